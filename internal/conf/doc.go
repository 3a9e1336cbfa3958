// Package conf loads the configuration files only upsd reads: upsd.conf
// (server settings and LISTEN addresses) and upsd.users (accounts and their
// rights). Both are split into words by sdk/nutconf, the one parser for every
// NUT file, and interpreted the way NUT 2.8.0's server/conf.c and
// server/user.c do, with one deliberate difference: a line NUT would log and
// skip because it cannot make sense of it is an error naming file:line here,
// so a typo never silently loosens or drops a setting. Lines NUT accepts with
// a warning (obsolete ACL directives, a repeated password) are accepted and
// the warning is returned for the caller to log.
package conf
