package main

import (
	"fmt"
	"io"
	"log/syslog"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// Logger writes upssched's messages where NUT's go: syslog (upssched runs
// under upsmon, usually without a terminal) and stderr. Errors always go
// to both; Infof (what NUT logs at LOG_INFO: timers started, cancelled,
// fired, commands run) goes to syslog, and to stderr too when DEBUG_MIN is
// 1 or more; Debugf only when DEBUG_MIN is 1 or more.
type Logger struct {
	mu     sync.Mutex
	Stderr io.Writer      // nil: none
	Syslog *syslog.Writer // nil: none
	Debug  int            // DEBUG_MIN
}

// NewLogger opens syslog (best effort: a machine without a syslog socket
// still gets stderr) and writes to stderr.
func NewLogger(stderr io.Writer) *Logger {
	l := &Logger{Stderr: stderr}
	if w, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, "upssched"); err == nil {
		l.Syslog = w
	}
	return l
}

// Errorf logs a problem.
func (l *Logger) Errorf(format string, args ...any) {
	l.write(true, "err", fmt.Sprintf(format, args...))
}

// Infof logs what the program does.
func (l *Logger) Infof(format string, args ...any) {
	l.write(l.Debug >= 1, "info", fmt.Sprintf(format, args...))
}

// Debugf logs details for DEBUG_MIN 1 or more.
func (l *Logger) Debugf(format string, args ...any) {
	if l.Debug >= 1 {
		l.write(true, "debug", fmt.Sprintf(format, args...))
	}
}

func (l *Logger) write(toStderr bool, level, msg string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if toStderr && l.Stderr != nil {
		fmt.Fprintf(l.Stderr, "upssched: %s\n", msg)
	}
	if l.Syslog != nil {
		switch level {
		case "err":
			l.Syslog.Err(msg)
		case "debug":
			l.Syslog.Debug(msg)
		default:
			l.Syslog.Info(msg)
		}
	}
}

// ShellRunner runs "CMDSCRIPT arg" with /bin/sh -c, as NUT's system(3)
// does: the argument is not quoted, so a timer name or EXECUTE argument
// with blanks reaches the script as several arguments, exactly as with NUT,
// and CMDSCRIPT may carry arguments of its own. The command inherits the
// environment, with UPSNAME and NOTIFYTYPE from env, and stdin, stdout and
// stderr from upssched.
func ShellRunner(cmdscript string, log *Logger, stdout, stderr io.Writer) Runner {
	return func(arg string, env []string) {
		line := cmdscript + " " + arg
		cmd := exec.Command("/bin/sh", "-c", line)
		cmd.Env = mergeEnv(os.Environ(), env)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		err := cmd.Run()
		if err == nil {
			return
		}
		if ee, ok := err.(*exec.ExitError); ok {
			if ee.Exited() {
				log.Infof("exec_cmd(%s) returned %d", line, ee.ExitCode())
			} else {
				log.Errorf("exec_cmd(%s) terminated: %v", line, ee)
			}
			return
		}
		log.Errorf("Execute command failure: %s: %v", line, err)
	}
}

// mergeEnv returns base with the variables of extra set (replacing any of
// the same name).
func mergeEnv(base, extra []string) []string {
	out := make([]string, 0, len(base)+len(extra))
	names := map[string]bool{}
	for _, kv := range extra {
		k, _, _ := strings.Cut(kv, "=")
		names[k] = true
	}
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !names[k] {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}
