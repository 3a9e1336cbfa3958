// Command oldhost is the host side of the frozen protocol-1.0 SDK in
// ../sdkv1, driving one plugin the way nut-driver-host of that release
// did: handshake, Capabilities, Run, then an instant command and a SET.
// It prints what it saw as JSON for the skew test.
//
//	oldhost <plugin> <ups> <port> <instcmd> <var=value>
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/gonut/gonut/sdk/plugin"
)

type report struct {
	Minor    uint32
	Features []string
	Version  string
	Snapshot map[string]string // SETINFO name -> value
	Cmds     []string
	InstCmd  plugin.Result
	Set      plugin.Result
	After    map[string]string // SETINFO changes after the command and the SET
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "oldhost:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 5 {
		return fmt.Errorf("usage: oldhost <plugin> <ups> <port> <instcmd> <var=value>")
	}
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  plugin.Handshake,
		VersionedPlugins: plugin.PluginSets(nil),
		Cmd:              exec.Command(args[0]),
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Output: os.Stderr, Level: hclog.Warn}),
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		return err
	}
	raw, err := rpc.Dispense(plugin.PluginName)
	if err != nil {
		return err
	}
	inst := raw.(plugin.Instance)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	caps, err := inst.Capabilities(ctx, plugin.Capabilities{Minor: plugin.ProtocolMinor, Version: "frozen"})
	if err != nil {
		return fmt.Errorf("capabilities: %w", err)
	}
	rep := report{Minor: caps.Minor, Features: caps.Features, Version: caps.Version,
		Snapshot: map[string]string{}, After: map[string]string{}}
	recv, err := inst.Run(ctx, plugin.RunRequest{
		UPS: args[1], Driver: "driver", ConfPath: os.Getenv("NUT_CONFPATH"),
		Options: []plugin.Option{{Key: "port", Value: args[2], HasValue: true}},
	})
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	u, err := recv()
	if err != nil {
		return fmt.Errorf("first update: %w", err)
	}
	if !u.Snapshot {
		return fmt.Errorf("first update is not a snapshot: %+v", u)
	}
	for _, m := range u.Msgs {
		switch {
		case m[0] == "SETINFO" && len(m) == 3:
			rep.Snapshot[m[1]] = m[2]
		case m[0] == "ADDCMD" && len(m) == 2:
			rep.Cmds = append(rep.Cmds, m[1])
		}
	}
	if rep.InstCmd, err = inst.InstCmd(ctx, args[3], ""); err != nil {
		return err
	}
	name, value, _ := strings.Cut(args[4], "=")
	if rep.Set, err = inst.SetVar(ctx, name, value); err != nil {
		return err
	}
	// The changes the command and the SET made arrive as deltas; read
	// until the SET value shows (or give up on the first heartbeat after
	// the deadline).
	for rep.After[name] != value {
		u, err := recv()
		if err != nil {
			return fmt.Errorf("updates: %w", err)
		}
		for _, m := range u.Msgs {
			if m[0] == "SETINFO" && len(m) == 3 {
				rep.After[m[1]] = m[2]
			}
		}
	}
	return json.NewEncoder(os.Stdout).Encode(rep)
}
