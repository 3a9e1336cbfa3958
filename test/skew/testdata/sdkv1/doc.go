// Package sdk is the gonut driver SDK: what a UPS or PDU driver implements
// and links against to run as an out-of-process gonut driver plugin.
package sdk
