package protocol

import (
	"bufio"
	"errors"
	"io"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A scenario is a conversation over several connections, step by step:
// what one connection's login does to another's LIST CLIENT, what a
// tracking id handed out on one is worth on another. Each step's replies
// are compared between the two upsds, then the requests each upsd passed
// to its driver.
type step struct {
	conn int    // which connection (opened on first use)
	req  string // request lines; $ID0, $ID1, ... is that connection's last tracking id
	// settle repeats the step until its reply no longer says PENDING
	// (a driver's TRACKING result arrives when it arrives).
	settle bool
	// closes: the server hangs up after this step (LOGOUT).
	closes bool
}

type scenario struct {
	name  string
	steps []step
}

// stepEnd ends every step: its reply is the marker that all of the step's
// replies are in (server.* answers for any UPS name).
const stepEnd = "GET VAR step.end server.info\n"

var stepEndReply = regexp.MustCompile(`(?m)^VAR step\.end server\.info "[^"\n]*"\n`)

// player runs a scenario's steps against one upsd.
type player struct {
	t     *testing.T
	addr  string
	conns map[int]*bufio.ReadWriter
	raw   map[int]net.Conn
	ids   map[int]string // last tracking id per connection
}

func newPlayer(t *testing.T, addr string) *player {
	return &player{t: t, addr: addr, conns: map[int]*bufio.ReadWriter{}, raw: map[int]net.Conn{}, ids: map[int]string{}}
}

func (p *player) close() {
	for _, c := range p.raw {
		c.Close()
	}
}

var idRef = regexp.MustCompile(`\$ID(\d+)`)

// play sends one step and returns everything the server answered to it
// (and "<closed>" when it hung up as expected).
func (p *player) play(s step) string {
	p.t.Helper()
	rw := p.conns[s.conn]
	if rw == nil {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			p.t.Fatal(err)
		}
		p.raw[s.conn] = c
		rw = bufio.NewReadWriter(bufio.NewReader(c), bufio.NewWriter(c))
		p.conns[s.conn] = rw
	}
	req := idRef.ReplaceAllStringFunc(s.req, func(m string) string {
		n, _ := strconv.Atoi(m[3:])
		return p.ids[n]
	})
	c := p.raw[s.conn]
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if s.closes {
		// No end marker: NUT takes back a LOGOUT when another request
		// follows in the same read (docs/COMPATIBILITY.md).
		if _, err := rw.WriteString(req); err != nil || rw.Flush() != nil {
			p.t.Fatalf("%s: write: %v", p.addr, err)
		}
		rest, err := io.ReadAll(rw)
		if err != nil && !errors.Is(err, syscall.ECONNRESET) {
			p.t.Fatalf("%s: conn %d: after %q: %v", p.addr, s.conn, req, err)
		}
		c.Close()
		delete(p.conns, s.conn)
		delete(p.raw, s.conn)
		return string(rest) + "<closed>\n"
	}
	if _, err := rw.WriteString(req + stepEnd); err != nil {
		p.t.Fatalf("%s: write: %v", p.addr, err)
	}
	if err := rw.Flush(); err != nil {
		p.t.Fatalf("%s: write: %v", p.addr, err)
	}
	var b strings.Builder
	for {
		l, err := rw.ReadString('\n')
		b.WriteString(l)
		if stepEndReply.MatchString(l) {
			break
		}
		if err != nil {
			p.t.Fatalf("%s: conn %d: step %q: %v after %q", p.addr, s.conn, req, err, b.String())
		}
	}
	out := stepEndReply.ReplaceAllString(b.String(), "")
	if ids := trackingID.FindAllString(out, -1); len(ids) > 0 && strings.Contains(out, "OK TRACKING") {
		p.ids[s.conn] = ids[len(ids)-1]
	}
	return out
}

// playSettled plays a step, again while its reply says PENDING.
func (p *player) playSettled(s step) string {
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := p.play(s)
		if !s.settle || !strings.Contains(out, "PENDING") || time.Now().After(deadline) {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// normalizeIDs hides tracking ids, which the two servers draw differently.
func normalizeIDs(s string) string { return trackingID.ReplaceAllString(s, "<ID>") }

// scenarios is the write path: SET against every check, INSTCMD with and
// without a parameter, TRACKING, logins across connections, LIST CLIENT,
// LOGOUT and FSD. The users are those of usersConf.
func scenarios() []scenario {
	admin := "USERNAME admin\nPASSWORD secret\n"
	return []scenario{
		{"set checks", []step{
			{conn: 0, req: admin},
			{conn: 0, req: "SET VAR wr ups.id \"rack 2\"\nSET VAR wr ups.id 123456789\nSET VAR wr ups.id 12345678\nSET VAR wr ups.id \"\"\n"},
			{conn: 0, req: "SET VAR wr ups.contact x\nSET VAR wr UPS.ID caseless\nSET VAR WR ups.id upper\nSET VAR wr ups.id \"a b\" extra words\n"},
			{conn: 0, req: "SET VAR wr input.transfer.low 97\nSET VAR wr input.transfer.low 100\nSET VAR wr input.transfer.low \" 100\"\nSET VAR wr input.transfer.low 90\n"},
			{conn: 0, req: "SET VAR wr input.sensitivity H\nSET VAR wr input.sensitivity HH\nSET VAR wr input.sensitivity X\nSET VAR wr input.sensitivity h\nSET VAR wr input.sensitivity \"\"\n"},
			{conn: 0, req: "SET VAR wr ups.delay.shutdown 601\nSET VAR wr ups.delay.shutdown 600\nSET VAR wr ups.delay.shutdown 1000\nSET VAR wr ups.delay.shutdown -1\nSET VAR wr ups.delay.shutdown abc\nSET VAR wr ups.delay.shutdown 899x\nSET VAR wr ups.delay.shutdown 4294967296\nSET VAR wr ups.delay.shutdown \" 900\"\n"},
			{conn: 0, req: "SET VAR wr battery.charge.low anything\nSET VAR wr ups.temperature 30\nSET VAR wr ups.status OB\nSET VAR wr no.such x\nSET VAR nope ups.id x\nSET VAR dead ups.id x\nSET VAR stale ups.id x\n"},
			{conn: 0, req: "SET VAR wr ups.id\nSET VAR wr\nSET var wr ups.id lower\nset VAR wr ups.id verb\n"},
		}},
		{"set rights", []step{
			{conn: 0, req: "USERNAME viewer\nPASSWORD look\nSET VAR wr ups.id x\nSET VAR wr no.such x\nSET VAR nope x y\nSET VAR stale ups.id x\nSET VAR dead ups.id x\n"},
			{conn: 1, req: "USERNAME setter\nPASSWORD s\nSET VAR wr ups.id ok\nINSTCMD wr load.off\n"},
			{conn: 2, req: "USERNAME cmdr\nPASSWORD c\nSET VAR wr ups.id x\n"},
			{conn: 3, req: "USERNAME nopass\nPASSWORD \"\"\nSET VAR wr ups.id x\nINSTCMD wr load.off\n"},
			{conn: 4, req: "USERNAME mon\nPASSWORD pw\nSET VAR wr ups.id x\nINSTCMD wr load.off\n"},
			{conn: 5, req: "USERNAME Admin\nPASSWORD secret\nSET VAR wr ups.id x\n"},
			{conn: 6, req: "USERNAME admin\nPASSWORD Secret\nSET VAR wr ups.id x\nINSTCMD wr load.off\nFSD wr\n"},
			{conn: 7, req: "PASSWORD secret\nSET VAR wr ups.id x\nUSERNAME admin\nSET VAR wr ups.id after\n"},
		}},
		{"instcmd", []step{
			{conn: 0, req: admin},
			{conn: 0, req: "INSTCMD wr load.off\nINSTCMD wr load.off 10\nINSTCMD wr LOAD.OFF\nINSTCMD wr load.off \"a b\"\nINSTCMD wr load.off 10 extra\n"},
			{conn: 0, req: "INSTCMD wr no.such\nINSTCMD nope load.off\nINSTCMD dead load.off\nINSTCMD stale load.off\nINSTCMD wr\nINSTCMD\ninstcmd WR Load.Off\n"},
			{conn: 1, req: "USERNAME cmdr\nPASSWORD c\nINSTCMD wr load.off\nINSTCMD wr load.on\nINSTCMD wr LOAD.ON 3\nINSTCMD wr test.battery.start\nINSTCMD wr no.such\n"},
			{conn: 2, req: "USERNAME empty\nPASSWORD \"\"\nINSTCMD wr shutdown.return\n"},
			{conn: 3, req: "USERNAME viewer\nPASSWORD look\nINSTCMD wr load.off\nINSTCMD zeta load.off\nINSTCMD zeta no.such\n"},
		}},
		{"tracking", []step{
			{conn: 0, req: admin + "GET TRACKING\nSET TRACKING ON\nGET TRACKING\n"},
			{conn: 0, req: "INSTCMD wr load.off\n"},
			{conn: 0, req: "GET TRACKING $ID0\n", settle: true},
			{conn: 0, req: "INSTCMD wr load.on\n"},
			{conn: 0, req: "GET TRACKING $ID0\n", settle: true},
			{conn: 0, req: "INSTCMD wr test.battery.start 5\n"},
			{conn: 0, req: "GET TRACKING $ID0\n", settle: true},
			{conn: 0, req: "INSTCMD wr beeper.disable\n"},
			{conn: 0, req: "GET TRACKING $ID0\n"},
			{conn: 0, req: "SET VAR wr ups.id tracked\n"},
			{conn: 0, req: "GET TRACKING $ID0\n", settle: true},
			{conn: 0, req: "SET VAR wr input.transfer.low 90\n"},
			{conn: 0, req: "GET TRACKING $ID0\n", settle: true},
			{conn: 0, req: "SET VAR wr ups.delay.shutdown 5\n"},
			{conn: 0, req: "GET TRACKING $ID0\n", settle: true},
			{conn: 0, req: "SET VAR wr battery.charge.low 20\n"},
			{conn: 0, req: "GET TRACKING $ID0\n", settle: true},
			{conn: 0, req: "SET VAR wr ups.id 123456789\nINSTCMD wr no.such\nGET TRACKING 00000000-0000-4000-8000-000000000000\nGET TRACKING bogus\nGET TRACKING\n"},
			{conn: 0, req: "INSTCMD wr shutdown.return\n"},
			// Another connection reads the same table, once it asks
			// for tracking itself.
			{conn: 1, req: "GET TRACKING\nGET TRACKING $ID0\nUSERNAME viewer\nPASSWORD look\nGET TRACKING $ID0\nSET TRACKING ON\n"},
			{conn: 1, req: "GET TRACKING $ID0\n", settle: true},
			{conn: 1, req: "INSTCMD wr load.off\nSET TRACKING off\nGET TRACKING\n"},
			{conn: 0, req: "SET TRACKING OFF\nGET TRACKING\nGET TRACKING $ID0\nINSTCMD wr load.off\nSET TRACKING on\nINSTCMD wr load.off\n"},
			{conn: 0, req: "SET TRACKING\nSET TRACKING maybe\nSET TRACKING ON extra\nGET TRACKING\n"},
		}},
		{"logins and clients", []step{
			{conn: 0, req: "USERNAME mon\nPASSWORD pw\nLOGIN wr\n"},
			{conn: 1, req: "USERNAME sec\nPASSWORD pw\nLOGIN WR\n"},
			{conn: 2, req: "GET NUMLOGINS wr\nLIST CLIENT wr\nLIST CLIENT WR\nGET NUMLOGINS Wr\nLIST CLIENT zeta\n"},
			{conn: 1, req: "LOGIN wr\nLOGIN alpha\nPRIMARY wr\nMASTER wr\n"},
			{conn: 0, req: "PRIMARY wr\nMASTER WR\nLOGIN zeta\n"},
			{conn: 3, req: "USERNAME mon\nPASSWORD pw\nLOGIN dead\n"},
			{conn: 4, req: "USERNAME sec\nPASSWORD pw\nLOGIN stale\n"},
			{conn: 2, req: "GET NUMLOGINS dead\nGET NUMLOGINS stale\nLIST CLIENT dead\nLIST CLIENT stale\n"},
			{conn: 0, req: "LOGOUT\n", closes: true},
			{conn: 2, req: "GET NUMLOGINS wr\nLIST CLIENT wr\n"},
			{conn: 1, req: "LOGOUT extra\nLOGOUT\n", closes: true},
			{conn: 2, req: "GET NUMLOGINS wr\nLIST CLIENT wr\nLOGIN wr\n"},
			{conn: 5, req: "USERNAME viewer\nPASSWORD look\nLOGIN wr\nLOGOUT\n", closes: true},
			{conn: 2, req: "GET NUMLOGINS wr\n"},
		}},
		// Last: FSD changes what later requests about wr see.
		{"fsd", []step{
			{conn: 0, req: "USERNAME sec\nPASSWORD pw\nLOGIN wr\nFSD wr\n"},
			{conn: 1, req: "USERNAME fsder\nPASSWORD f\nFSD wr\nFSD stale\nFSD dead\nFSD nope\nFSD\n"},
			{conn: 2, req: "GET VAR wr ups.status\nLIST RW wr\nGET VAR stale ups.status\nGET VAR dead ups.status\n"},
			{conn: 2, req: "LIST VAR wr\n"},
			{conn: 3, req: "USERNAME mon\nPASSWORD pw\nFSD wr\nLOGIN wr\nFSD wr\n"},
			{conn: 2, req: "GET VAR wr ups.status\nGET NUMLOGINS wr\nLIST CLIENT wr\n"},
		}},
	}
}

// countRequests counts request lines, as the upsd parser ends them.
func countRequests(s string) int { return strings.Count(s, "\n") }

// errCodes adds every ERR code in s to set.
func errCodes(s string, set map[string]bool) {
	for _, l := range strings.Split(s, "\n") {
		if code, ok := strings.CutPrefix(l, "ERR "); ok {
			set[code] = true
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
