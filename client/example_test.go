package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/gonut/gonut/client"
	"github.com/gonut/gonut/client/clienttest"
)

// exampleUPSD starts a fake upsd for the examples: UPS "myups", user
// "admin" (password "s3cret") with every right, and user "monuser"
// (password "pw") as upsmon primary. With cert, it offers STARTTLS.
func exampleUPSD(cert *clienttest.Certificate) (addr string, stop func()) {
	u := clienttest.NewUPSD(clienttest.Device{
		Name: "myups", Desc: "Back-UPS ES 700",
		Vars: [][2]string{
			{"battery.charge", "100"},
			{"input.sensitivity", "medium"},
			{"ups.delay.shutdown", "20"},
			{"ups.status", "OL"},
		},
		Types: map[string]string{
			"input.sensitivity":  "RW ENUM",
			"ups.delay.shutdown": "RW STRING:10",
		},
		Enums: map[string][]string{"input.sensitivity": {"low", "medium", "high"}},
		Cmds:  []string{"beeper.disable", "load.off.delay", "test.battery.start"},
	})
	u.AddUser(clienttest.User{Name: "admin", Password: "s3cret", Actions: []string{"SET", "FSD"}, InstCmds: []string{"all"}})
	u.AddUser(clienttest.User{Name: "monuser", Password: "pw", Upsmon: "primary"})
	// The driver takes a while with the battery test, and has no beeper.
	u.SetResult("myups", "test.battery.start", 2, "SUCCESS")
	u.SetResult("myups", "beeper.disable", 0, "ERR FAILED")
	var opts []clienttest.ServerOption
	if cert != nil {
		opts = append(opts, clienttest.WithTLS(cert.TLS))
	}
	s, err := u.Listen(opts...)
	if err != nil {
		log.Fatal(err)
	}
	return s.Addr, s.Close
}

// Reading a variable needs no credentials.
func Example() {
	addr, stop := exampleUPSD(nil)
	defer stop()

	ctx := context.Background()
	c, err := client.Dial(ctx, addr) // e.g. "localhost" or "ups.example.net:3493"
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	status, err := c.GetVar(ctx, "myups", "ups.status")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("ups.status:", status)

	_, err = c.GetVar(ctx, "myups", "ups.temperature")
	fmt.Println(errors.Is(err, client.ErrVarNotSupported), client.Strerror(err))
	// Output:
	// ups.status: OL
	// true Variable not supported by UPS
}

// Setting a variable needs a user with "actions = SET" in upsd.users.
// upsd checks the value against the variable's type (here an ENUM).
func ExampleClient_SetVar() {
	addr, stop := exampleUPSD(nil)
	defer stop()

	ctx := context.Background()
	c, err := client.Dial(ctx, addr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Authenticate(ctx, "admin", "s3cret"); err != nil {
		log.Fatal(err)
	}

	err = c.SetVar(ctx, "myups", "input.sensitivity", "extreme")
	fmt.Println("extreme:", client.Strerror(err))

	if err := c.SetVar(ctx, "myups", "input.sensitivity", "low"); err != nil {
		log.Fatal(err)
	}
	v, _ := c.GetVar(ctx, "myups", "input.sensitivity")
	fmt.Println("now:", v)
	// Output:
	// extreme: Invalid value for variable
	// now: low
}

// An instant command with tracking: upsd answers at once with a tracking
// id, and WaitTracking asks how the driver got on until it has answered,
// as "upscmd -w" does.
func ExampleClient_InstCmdTracked() {
	addr, stop := exampleUPSD(nil)
	defer stop()

	ctx := context.Background()
	c, err := client.Dial(ctx, addr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Authenticate(ctx, "admin", "s3cret"); err != nil {
		log.Fatal(err)
	}

	for _, cmd := range []string{"test.battery.start", "beeper.disable"} {
		id, err := c.InstCmdTracked(ctx, "myups", cmd)
		if err != nil {
			log.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second) // upscmd's -t
		err = c.WaitTracking(wctx, id, 10*time.Millisecond)
		cancel()
		var failed *client.TrackingError
		switch {
		case err == nil:
			fmt.Println(cmd, "succeeded")
		case errors.As(err, &failed):
			fmt.Println(cmd, "failed in the driver:", failed.Err.Code)
		default:
			log.Fatal(err) // the wait itself failed: timeout, connection
		}
	}
	// Output:
	// test.battery.start succeeded
	// beeper.disable failed in the driver: FAILED
}

// An instant command with a parameter, here the delay in seconds.
func ExampleClient_InstCmd() {
	addr, stop := exampleUPSD(nil)
	defer stop()

	ctx := context.Background()
	c, err := client.Dial(ctx, addr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	err = c.InstCmd(ctx, "myups", "load.off.delay", "120")
	fmt.Println("without credentials:", client.Strerror(err))

	if err := c.Authenticate(ctx, "admin", "s3cret"); err != nil {
		log.Fatal(err)
	}
	if err := c.InstCmd(ctx, "myups", "load.off.delay", "120"); err != nil {
		log.Fatal(err)
	}
	fmt.Println("load.off.delay 120 sent to the driver")
	// Output:
	// without credentials: Username required
	// load.off.delay 120 sent to the driver
}

// What upsmon does as the primary of a UPS: log in to it, claim the
// primary role, and, when the battery runs out, set forced shutdown.
func ExampleClient_Login() {
	addr, stop := exampleUPSD(nil)
	defer stop()

	ctx := context.Background()
	c, err := client.Dial(ctx, addr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Authenticate(ctx, "monuser", "pw"); err != nil {
		log.Fatal(err)
	}
	if err := c.Login(ctx, "myups"); err != nil {
		log.Fatal(err)
	}
	if err := c.Primary(ctx, "myups"); err != nil {
		log.Fatal(err)
	}
	if err := c.FSD(ctx, "myups"); err != nil {
		log.Fatal(err)
	}
	status, _ := c.GetVar(ctx, "myups", "ups.status")
	fmt.Println("ups.status:", status)
	// Output:
	// ups.status: FSD OL
}

// Encrypting the session with STARTTLS, trusting upsd's self-signed
// certificate by its SHA-256 fingerprint. With WithStartTLS, Dial fails
// rather than fall back to plain text, so the password never leaves the
// host unencrypted.
func ExampleTLSOptions() {
	cert, err := clienttest.GenerateCertificate() // upsd's CERTFILE
	if err != nil {
		log.Fatal(err)
	}
	addr, stop := exampleUPSD(cert)
	defer stop()

	// The fingerprint as `openssl x509 -noout -fingerprint -sha256` prints it.
	pin := client.Fingerprint(cert.Cert)
	cfg, err := client.TLSOptions{PinSHA256: []string{pin}}.Config()
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	c, err := client.Dial(ctx, addr, client.WithStartTLS(cfg))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Authenticate(ctx, "admin", "s3cret"); err != nil {
		log.Fatal(err)
	}
	st, _ := c.TLSConnectionState()
	fmt.Println("encrypted:", st.HandshakeComplete)

	// A certificate with another fingerprint is refused.
	other, err := clienttest.GenerateCertificate()
	if err != nil {
		log.Fatal(err)
	}
	cfg, _ = client.TLSOptions{PinSHA256: []string{client.Fingerprint(other.Cert)}}.Config()
	_, err = client.Dial(ctx, addr, client.WithStartTLS(cfg))
	fmt.Println("wrong pin refused:", errors.Is(err, client.ErrPinMismatch))
	// Output:
	// encrypted: true
	// wrong pin refused: true
}

// Reading the upsname[@hostname[:port]] argument every NUT client takes.
func ExampleParseUPSName() {
	n, err := client.ParseUPSName("myups@[::1]:3493")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n.Name, n.Host, n.Port, n.Addr())
	// Output:
	// myups ::1 3493 [::1]:3493
}
