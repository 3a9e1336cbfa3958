// Package sdk is the gonut driver SDK: what a UPS or PDU driver implements
// and links against to run as an out-of-process gonut driver plugin.
//
// The same binary has two modes. Started by gonut's nut-driver-host (the
// go-plugin handshake cookie is in its environment) it is a plugin: the
// host owns the state socket and supervises it. Started by hand or by
// NUT's own upsdrvctl (no cookie) it runs in standalone mode as a classic
// NUT 2.8 driver: -a ups, its own state socket and pid file, -D, -u, -x,
// -k, -L, -c exit|reload. Like NUT, the runtime refuses ignorelb after the
// first update when neither battery.charge/battery.charge.low nor
// battery.runtime/battery.runtime.low is published. See sdk/README.md for
// the vendor's guide and the compatibility promise.
package sdk
