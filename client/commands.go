package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// UPS is one entry of LIST UPS.
type UPS struct {
	Name string
	Desc string // the desc of its ups.conf section; upsd says "Description unavailable" when there is none
}

// Var is one variable of LIST VAR or LIST RW.
type Var struct {
	Name  string
	Value string
}

// Range is one entry of LIST RANGE: the inclusive bounds a RANGE variable
// accepts, as upsd sends them.
type Range struct {
	Min string
	Max string
}

// Type is a variable's GET TYPE answer, e.g. "RW STRING:32" or "RW ENUM".
type Type struct {
	RW        bool // writable with SET VAR
	Enum      bool // values come from LIST ENUM
	Range     bool // values come from LIST RANGE
	String    bool // a string of at most MaxLength bytes
	MaxLength int  // the n of STRING:n
	Number    bool // a number
	// Flags are the words as upsd sent them, including any this version
	// does not know; strings.Join(t.Flags, " ") is the answer as sent.
	Flags []string
}

func parseType(flags []string) (Type, error) {
	t := Type{Flags: flags}
	for _, f := range flags {
		switch {
		case f == "RW":
			t.RW = true
		case f == "ENUM":
			t.Enum = true
		case f == "RANGE":
			t.Range = true
		case f == "NUMBER":
			t.Number = true
		case strings.HasPrefix(f, "STRING:"):
			n, err := strconv.Atoi(f[len("STRING:"):])
			if err != nil || n < 0 {
				return Type{}, fmt.Errorf("bad string length in %q", f)
			}
			t.String, t.MaxLength = true, n
		}
	}
	return t, nil
}

// Version returns upsd's VER banner, e.g.
// "Network UPS Tools upsd 2.8.0 - http://www.networkupstools.org/".
func (c *Client) Version(ctx context.Context) (string, error) {
	return c.rawLine(ctx, newRequest("VER"))
}

// NetVersion returns the protocol version upsd speaks (NETVER), e.g. "1.3".
func (c *Client) NetVersion(ctx context.Context) (string, error) {
	return c.rawLine(ctx, newRequest("NETVER"))
}

// ListUPS returns the UPSes upsd serves, in its order (LIST UPS).
func (c *Client) ListUPS(ctx context.Context) ([]UPS, error) {
	var out []UPS
	err := c.list(ctx, []string{"UPS"}, 2, func(f []string) { out = append(out, UPS{Name: f[0], Desc: f[1]}) })
	return out, err
}

// ListVars returns every variable of ups with its value (LIST VAR).
func (c *Client) ListVars(ctx context.Context, ups string) ([]Var, error) {
	var out []Var
	err := c.list(ctx, []string{"VAR", ups}, 2, func(f []string) { out = append(out, Var{Name: f[0], Value: f[1]}) })
	return out, err
}

// ListRW returns the writable variables of ups with their values (LIST RW).
func (c *Client) ListRW(ctx context.Context, ups string) ([]Var, error) {
	var out []Var
	err := c.list(ctx, []string{"RW", ups}, 2, func(f []string) { out = append(out, Var{Name: f[0], Value: f[1]}) })
	return out, err
}

// ListCmds returns the instant commands ups supports (LIST CMD).
func (c *Client) ListCmds(ctx context.Context, ups string) ([]string, error) {
	var out []string
	err := c.list(ctx, []string{"CMD", ups}, 1, func(f []string) { out = append(out, f[0]) })
	return out, err
}

// ListEnum returns the values an ENUM variable accepts (LIST ENUM).
func (c *Client) ListEnum(ctx context.Context, ups, name string) ([]string, error) {
	var out []string
	err := c.list(ctx, []string{"ENUM", ups, name}, 1, func(f []string) { out = append(out, f[0]) })
	return out, err
}

// ListRange returns the ranges a RANGE variable accepts (LIST RANGE).
func (c *Client) ListRange(ctx context.Context, ups, name string) ([]Range, error) {
	var out []Range
	err := c.list(ctx, []string{"RANGE", ups, name}, 2, func(f []string) { out = append(out, Range{Min: f[0], Max: f[1]}) })
	return out, err
}

// ListClients returns the addresses of the clients logged in to ups
// (LIST CLIENT); upsd lists only clients that sent LOGIN.
func (c *Client) ListClients(ctx context.Context, ups string) ([]string, error) {
	var out []string
	err := c.list(ctx, []string{"CLIENT", ups}, 1, func(f []string) { out = append(out, f[0]) })
	return out, err
}

// GetVar returns the value of one variable (GET VAR).
func (c *Client) GetVar(ctx context.Context, ups, name string) (string, error) {
	return c.getOne(ctx, "VAR", ups, name)
}

// GetType returns the type of one variable (GET TYPE).
func (c *Client) GetType(ctx context.Context, ups, name string) (Type, error) {
	var t Type
	err := c.get(ctx, []string{"TYPE", ups, name}, 1, func(f []string) (err error) {
		t, err = parseType(f)
		return err
	})
	return t, err
}

// GetDesc returns the description of a variable (GET DESC). upsd answers
// "Description unavailable" for names it has no text for.
func (c *Client) GetDesc(ctx context.Context, ups, name string) (string, error) {
	return c.getOne(ctx, "DESC", ups, name)
}

// GetCmdDesc returns the description of an instant command (GET CMDDESC).
func (c *Client) GetCmdDesc(ctx context.Context, ups, cmd string) (string, error) {
	return c.getOne(ctx, "CMDDESC", ups, cmd)
}

// GetUPSDesc returns the desc of the UPS's ups.conf section (GET UPSDESC);
// upsd answers "Unavailable" when there is none.
func (c *Client) GetUPSDesc(ctx context.Context, ups string) (string, error) {
	return c.getOne(ctx, "UPSDESC", ups)
}

// GetNumLogins returns how many clients are logged in to ups (GET NUMLOGINS).
func (c *Client) GetNumLogins(ctx context.Context, ups string) (int, error) {
	var n int
	err := c.get(ctx, []string{"NUMLOGINS", ups}, 1, func(f []string) (err error) {
		n, err = strconv.Atoi(f[0])
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a count", f[0])
		}
		return nil
	})
	return n, err
}

// Username sends USERNAME, the first step of authenticating.
func (c *Client) Username(ctx context.Context, name string) error {
	_, err := c.command(ctx, newRequest("USERNAME", name))
	return err
}

// Password sends PASSWORD. upsd 2.8 accepts any password here and reports
// a wrong one later, as ACCESS-DENIED on the command that needs it.
func (c *Client) Password(ctx context.Context, password string) error {
	_, err := c.command(ctx, newSecretRequest("PASSWORD", password))
	return err
}

// Login attaches this connection to ups as an upsmon client (LOGIN), which
// counts in NUMLOGINS and LIST CLIENT. It needs Username and Password first,
// for a user with upsmon rights.
func (c *Client) Login(ctx context.Context, ups string) error {
	_, err := c.command(ctx, newRequest("LOGIN", ups))
	return err
}

// Logout sends LOGOUT, waits for upsd's "OK Goodbye" and closes the Client.
func (c *Client) Logout(ctx context.Context) error {
	err := c.exchange(ctx, newRequest("LOGOUT"), func() error {
		line, words, err := c.readLine()
		switch {
		case errors.Is(err, io.EOF):
			return nil // upsd hung up first: logged out all the same
		case err != nil:
			return err
		}
		if e := errReply(words); e != nil {
			return e
		}
		if len(words) == 0 || words[0] != "OK" {
			return &ProtocolError{Line: line, Reason: "expected OK"}
		}
		return nil
	})
	var nerr *Error
	if err == nil || errors.As(err, &nerr) {
		c.setClosed(nil)
		_ = c.raw.Close()
	}
	return err
}

// command sends a request answered by one "OK [words]" line and returns
// the words after OK.
func (c *Client) command(ctx context.Context, req request) ([]string, error) {
	var out []string
	err := c.exchange(ctx, req, func() error {
		line, words, err := c.readLine()
		if err != nil {
			return err
		}
		if e := errReply(words); e != nil {
			return e
		}
		if len(words) == 0 || words[0] != "OK" {
			return &ProtocolError{Line: line, Reason: "expected OK"}
		}
		out = words[1:]
		return nil
	})
	return out, err
}

// rawLine sends a request answered by one free-text line (VER, NETVER).
func (c *Client) rawLine(ctx context.Context, req request) (string, error) {
	var out string
	err := c.exchange(ctx, req, func() error {
		line, words, err := c.readLine()
		if err != nil {
			return err
		}
		if e := errReply(words); e != nil {
			return e
		}
		out = line
		return nil
	})
	return out, err
}

// getOne is get for the answers that are one word: VAR, DESC, CMDDESC, UPSDESC.
func (c *Client) getOne(ctx context.Context, query ...string) (string, error) {
	var out string
	err := c.get(ctx, query, 1, func(f []string) error {
		out = f[0]
		return nil
	})
	return out, err
}

// get sends GET <query...>. The answer must echo the query and carry at
// least min more words, which parse receives; an error from parse is a
// protocol error.
func (c *Client) get(ctx context.Context, query []string, min int, parse func([]string) error) error {
	req := newRequest(append([]string{"GET"}, query...)...)
	return c.exchange(ctx, req, func() error {
		line, words, err := c.readLine()
		if err != nil {
			return err
		}
		if e := errReply(words); e != nil {
			return e
		}
		if !hasPrefixFold(words, query) || len(words) < len(query)+min {
			return &ProtocolError{Line: line, Reason: fmt.Sprintf("expected %q and %d more word(s)", strings.Join(query, " "), min)}
		}
		if err := parse(words[len(query):]); err != nil {
			return &ProtocolError{Line: line, Reason: err.Error()}
		}
		return nil
	})
}

// list sends LIST <query...> and passes each item's words after the echoed
// query (at least min of them) to each. The reply must be framed by
// BEGIN LIST <query> and END LIST <query>; anything else in between, or a
// reply past the list size limit, is a protocol error.
func (c *Client) list(ctx context.Context, query []string, min int, each func([]string)) error {
	req := newRequest(append([]string{"LIST"}, query...)...)
	q := strings.Join(query, " ")
	return c.exchange(ctx, req, func() error {
		line, words, err := c.readLine()
		if err != nil {
			return err
		}
		if e := errReply(words); e != nil {
			return e
		}
		if !isFrame(words, "BEGIN", query) {
			return &ProtocolError{Line: line, Reason: "expected BEGIN LIST " + q}
		}
		size := len(line) + 1
		for {
			line, words, err := c.readLine()
			if err != nil {
				return err
			}
			size += len(line) + 1
			switch {
			case size > c.opts.maxList:
				return &ProtocolError{Reason: fmt.Sprintf("LIST reply larger than %d bytes", c.opts.maxList)}
			case isFrame(words, "END", query):
				return nil
			case len(words) >= 2 && strings.EqualFold(words[0], "END") && strings.EqualFold(words[1], "LIST"):
				return &ProtocolError{Line: line, Reason: "expected END LIST " + q}
			case errReply(words) != nil:
				return &ProtocolError{Line: line, Reason: "ERR inside a list"}
			case !hasPrefixFold(words, query) || len(words) < len(query)+min:
				return &ProtocolError{Line: line, Reason: fmt.Sprintf("expected %q and %d more word(s), or END LIST %s", q, min, q)}
			}
			each(words[len(query):])
		}
	})
}
