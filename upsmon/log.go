package upsmon

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Logger receives upsmon's log lines at NUT's syslog levels. The command
// sends them to stderr in the foreground and to syslog in the background.
type Logger interface {
	Debug(level int, msg string) // shown from -D level on
	Info(msg string)
	Notice(msg string)
	Warn(msg string)
	Error(msg string)
	Crit(msg string)
}

// WriterLogger writes one line per message to W: a time stamp (unless
// NoTime), the level when it is not Notice or Info, and the message.
type WriterLogger struct {
	W      io.Writer
	Debugs int  // -D count: Debug(level) is shown when level <= Debugs
	NoTime bool // syslog stamps its own lines

	mu sync.Mutex
}

func (l *WriterLogger) line(prefix, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.NoTime {
		fmt.Fprintf(l.W, "%s%s\n", prefix, msg)
		return
	}
	fmt.Fprintf(l.W, "%s %s%s\n", time.Now().Format("2006-01-02T15:04:05.000Z07:00"), prefix, msg)
}

// Debug implements Logger.
func (l *WriterLogger) Debug(level int, msg string) {
	if level <= l.Debugs {
		l.line(fmt.Sprintf("[D%d] ", level), msg)
	}
}

// Info implements Logger.
func (l *WriterLogger) Info(msg string) { l.line("", msg) }

// Notice implements Logger.
func (l *WriterLogger) Notice(msg string) { l.line("", msg) }

// Warn implements Logger.
func (l *WriterLogger) Warn(msg string) { l.line("WARNING: ", msg) }

// Error implements Logger.
func (l *WriterLogger) Error(msg string) { l.line("ERROR: ", msg) }

// Crit implements Logger.
func (l *WriterLogger) Crit(msg string) { l.line("CRITICAL: ", msg) }
