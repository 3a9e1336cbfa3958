package upsd

// Error codes of the network protocol, sent as "ERR <code>\n" (NUT's
// server/neterr.h).
const (
	errAccessDenied         = "ACCESS-DENIED"
	errUnknownUPS           = "UNKNOWN-UPS"
	errVarNotSupported      = "VAR-NOT-SUPPORTED"
	errCmdNotSupported      = "CMD-NOT-SUPPORTED"
	errInvalidArgument      = "INVALID-ARGUMENT"
	errInstCmdFailed        = "INSTCMD-FAILED"
	errSetFailed            = "SET-FAILED"
	errReadOnly             = "READONLY"
	errTooLong              = "TOO-LONG"
	errFeatureNotConfigured = "FEATURE-NOT-CONFIGURED"
	errAlreadySSLMode       = "ALREADY-SSL-MODE"
	errDriverNotConnected   = "DRIVER-NOT-CONNECTED"
	errDataStale            = "DATA-STALE"
	errAlreadyLoggedIn      = "ALREADY-LOGGED-IN"
	errAlreadySetPassword   = "ALREADY-SET-PASSWORD"
	errAlreadySetUsername   = "ALREADY-SET-USERNAME"
	errUsernameRequired     = "USERNAME-REQUIRED"
	errPasswordRequired     = "PASSWORD-REQUIRED"
	errUnknownCommand       = "UNKNOWN-COMMAND"
	errInvalidValue         = "INVALID-VALUE"
)
