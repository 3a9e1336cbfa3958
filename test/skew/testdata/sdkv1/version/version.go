// Package version holds gonut's version string. It stands apart from the
// SDK's runtime so that programs that need only the string (upsd, the
// client tools) do not link go-plugin, gRPC and protobuf with it.
package version

// Version is gonut's version: the NUT release it reproduces, then gonut's.
const Version = "2.8.0-gonut0.1"
