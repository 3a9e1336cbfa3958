// Command major2 is a plugin from a future SDK that speaks only driver
// protocol major 2: a host of protocol 1 must refuse it in the go-plugin
// handshake, before any call, with a message naming both versions.
package main

import (
	"context"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

type driverPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
}

// Nothing is registered: the handshake fails before any call.
func (driverPlugin) GRPCServer(*goplugin.GRPCBroker, *grpc.Server) error { return nil }

func (driverPlugin) GRPCClient(context.Context, *goplugin.GRPCBroker, *grpc.ClientConn) (interface{}, error) {
	return nil, nil
}

func main() {
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: goplugin.HandshakeConfig{
			ProtocolVersion:  2,
			MagicCookieKey:   "GONUT_DRIVER_PLUGIN",
			MagicCookieValue: "5b0c4f1e-nut-driver-host",
		},
		VersionedPlugins: map[int]goplugin.PluginSet{2: {"driver": driverPlugin{}}},
		GRPCServer:       goplugin.DefaultGRPCServer,
	})
}
