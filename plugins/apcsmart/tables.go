package apcsmart

import "regexp"

// Variable flags, after NUT's APC_* flags.
const (
	fPoll   = 1 << iota // read on every poll, not only on the hourly full scan
	fRW                 // writable (set by the capability string or for strings)
	fEnum               // writable by stepping through values with '-'
	fString             // writable as an 8-character string
	fMulti              // one of several APC variables for one NUT name, or the other way round
	fPack               // a comma-separated list published as name.1, name.2, ...
)

// Value formats: how an APC reply becomes a NUT value.
type format int

const (
	fmtLeave   format = iota // as received
	fmtPercent               // as received
	fmtVolt                  // as received
	fmtAmp                   // as received
	fmtCelsius               // as received
	fmtHex                   // as received
	fmtDec                   // as received
	fmtSeconds               // as received
	fmtMinutes               // minutes → seconds
	fmtHours                 // hours → seconds
	fmtReason                // transfer reason letter → text
)

// varDef is one APC variable: the query character and the NUT name.
type varDef struct {
	name   string
	cmd    byte
	flags  int
	format format
	// match, when set, is what a reply must look like for the variable to
	// count as supported (it tells apart two meanings of one character).
	match *regexp.Regexp
}

// packMax is the most subfields of a packed variable that are published.
const packMax = 4

// varTable lists the APC variables NUT 2.8.0's apcsmart knows (command
// table version 3.1), in its order: the order decides which of two
// variables for the same NUT name wins (the first one present), and the
// order of reads on the wire.
var varTable = []varDef{
	{"ups.temperature", 'C', fPoll, fmtCelsius, nil},
	{"ups.load", 'P', fPoll, fmtPercent, nil},
	{"ups.test.interval", 'E', 0, fmtHours, nil},
	{"ups.test.result", 'X', fPoll, fmtLeave, nil},
	{"ups.delay.start", 'r', 0, fmtSeconds, nil},
	{"ups.delay.shutdown", 'p', 0, fmtSeconds, nil},
	{"ups.id", 'c', fString, fmtLeave, nil},
	{"ups.contacts", 'i', fPoll, fmtHex, nil},
	{"ups.display.language", 0x0c, 0, fmtLeave, nil},
	{"input.voltage", 'L', fPoll, fmtVolt, nil},
	{"input.frequency", 'F', fPoll, fmtDec, nil},
	{"input.sensitivity", 's', 0, fmtLeave, nil},
	{"input.quality", '9', fPoll, fmtHex, nil},
	{"input.transfer.low", 'l', 0, fmtVolt, nil},
	{"input.transfer.high", 'u', 0, fmtVolt, nil},
	{"input.transfer.reason", 'G', fPoll, fmtReason, nil},
	{"input.voltage.maximum", 'M', fPoll, fmtVolt, nil},
	{"input.voltage.minimum", 'N', fPoll, fmtVolt, nil},
	{"output.current", '/', fPoll, fmtAmp, nil},
	{"output.voltage", 'O', fPoll, fmtVolt, nil},
	{"output.voltage.nominal", 'o', 0, fmtVolt, nil},
	{"ambient.humidity", 'h', fPoll, fmtPercent, nil},
	{"ambient.0.humidity", 'H', fPoll | fPack, fmtPercent, nil},
	{"ambient.0.humidity.high", '{', fPoll | fPack, fmtPercent, nil},
	{"ambient.0.humidity.low", '}', fPoll | fPack, fmtPercent, nil},
	{"ambient.temperature", 't', fPoll, fmtCelsius, nil},
	{"ambient.0.temperature", 'T', fMulti | fPoll | fPack, fmtCelsius, regexp.MustCompile(`^[0-9]{2}\.[0-9]{2}$`)},
	{"ambient.0.temperature.high", '[', fPoll | fPack, fmtCelsius, nil},
	{"ambient.0.temperature.low", ']', fPoll | fPack, fmtCelsius, nil},
	{"battery.date", 'x', fString, fmtLeave, nil},
	{"battery.charge", 'f', fPoll, fmtPercent, nil},
	{"battery.charge.restart", 'e', 0, fmtPercent, nil},
	{"battery.voltage", 'B', fPoll, fmtVolt, nil},
	{"battery.voltage.nominal", 'g', 0, fmtLeave, nil},
	{"battery.runtime", 'j', fPoll, fmtMinutes, nil},
	{"battery.runtime.low", 'q', 0, fmtMinutes, nil},
	{"battery.packs", '>', 0, fmtDec, nil},
	{"battery.packs.bad", '<', 0, fmtDec, nil},
	{"battery.alarm.threshold", 'k', 0, fmtLeave, nil},
	{"device.uptime", 'T', fMulti | fPoll, fmtHours, regexp.MustCompile(`^[0-9]{3}\.[0-9]{1}$`)},
	{"ups.serial", 'n', 0, fmtLeave, nil},
	{"ups.mfr.date", 'm', 0, fmtLeave, nil},
	{"ups.model", 0x01, 0, fmtLeave, nil},
	{"ups.firmware.aux", 'v', 0, fmtLeave, nil},
	{"ups.firmware", 'b', fMulti, fmtLeave, regexp.MustCompile(`^[[:alnum:]]+\.[[:alnum:]]+\.[[:alnum:]]+$`)},
	{"ups.firmware", 'V', fMulti, fmtLeave, nil},
}

// APC command characters.
const (
	cmdStatus    = 'Q'
	cmdSmart     = 'Y'
	cmdDumb      = 'R'
	cmdCmdSet    = 'a'
	cmdCaps      = 0x1a // ^Z
	cmdNextVal   = '-'
	cmdFwOld     = 'V'
	cmdFwNew     = 'b'
	cmdOff       = 'Z'
	cmdOn        = 0x0e // ^N
	cmdPanelTest = 'A'
	cmdSimPwrF   = 'U'
	cmdBattTest  = 'W'
	cmdGraceDown = '@'
	cmdSoftDown  = 'S'
	cmdShutdown  = 'K'
	cmdCalToggle = 'D'
	cmdBypass    = '^'
	cmdEsc       = 27
)

// Instant command flags.
const (
	cNasty  = 1 << iota // must be sent twice, 3 to 15 seconds apart
	cRepeat             // the character is sent twice, 1.5 s apart
)

// cmdDef is one NUT instant command and the APC character behind it.
type cmdDef struct {
	name  string
	ext   *regexp.Regexp // the parameter it takes, if any
	cmd   byte
	flags int
}

// cmdTable lists the instant commands, in NUT's order: shutdown.return
// has two entries told apart by their parameter.
var cmdTable = []cmdDef{
	{"shutdown.return", regexp.MustCompile(`^[Aa][Tt]:[0-9]{1,3}$`), cmdGraceDown, cNasty},
	{"shutdown.return", regexp.MustCompile(`^([Cc][Ss]|)$`), cmdSoftDown, cNasty},
	{"shutdown.stayoff", nil, cmdShutdown, cNasty | cRepeat},
	{"load.off", nil, cmdOff, cNasty | cRepeat},
	{"load.on", nil, cmdOn, cRepeat},
	{"calibrate.start", nil, cmdCalToggle, 0},
	{"calibrate.stop", nil, cmdCalToggle, 0},
	{"test.panel.start", nil, cmdPanelTest, 0},
	{"test.failure.start", nil, cmdSimPwrF, 0},
	{"test.battery.start", nil, cmdBattTest, 0},
	{"test.battery.stop", nil, cmdBattTest, 0},
	{"bypass.start", nil, cmdBypass, 0},
	{"bypass.stop", nil, cmdBypass, 0},
}

// compat lists the command characters of old units that do not answer
// 'a', by the firmware they report to 'V' (or 'b').
var compat = map[string]string{
	"0XI":    "@789ABCDEFGKLMNOPQRSTUVWXYZcefgjklmnopqrsuwxz/<>\\^\x0c\x16",
	"0XM":    "@789ABCDEFGKLMNOPQRSTUVWXYZcefgjklmnopqrsuwxz/<>\\^\x0c\x16",
	"0ZI":    "@79ABCDEFGKLMNOPQRSUVWXYZcefgjklmnopqrsuxz/<>",
	"5UI":    "@79ABCDEFGKLMNOPQRSUVWXYZcefgjklmnopqrsuxz/<>",
	"5ZM":    "@79ABCDEFGKLMNOPQRSUVWXYZcefgjklmnopqrsuxz/<>",
	"6QD":    "@79ABCDEFGKLMNOPQRSUVWXYZcefgjklmnopqrsuxz",
	"6QI":    "@79ABCDEFGKLMNOPQRSUVWXYZcefgjklmnopqrsuxz",
	"6TD":    "@79ABCDEFGKLMNOPQRSUVWXYZcefgjklmnopqrsuxz",
	"6TI":    "@79ABCDEFGKLMNOPQRSUVWXYZcefgjklmnopqrsuxz",
	"7QD":    "@79ABCDEFGKLMNOPQRSUVWXYZcefgjklmnopqrsuxz",
	"7QI":    "@79ABCDEFGKLMNOPQRSUVWXYZcefgjklmnopqrsuxz",
	"7TD":    "@79ABCDEFGKLMNOPQRSUVWXYZcefgjklmnopqrsuxz",
	"7TI":    "@79ABCDEFGKLMNOPQRSUVWXYZcefgjklmnopqrsuxz",
	"6JI":    "@789ABCFGKLMNOPQSTUVWXYZfg",
	"7II":    "@79ABCEFGKLMNOPQRSUVWXYZcfg",
	"9II":    "@79ABCEFGKLMNOPQRSUVWXYZcfg",
	"9GI":    "@79ABCEFGKLMNOPQRSUVWXYZcfg",
	"8II":    "@79ABCEFGKLMNOPQRSUVWXYZcfg",
	"8GI":    "@79ABCEFGKLMNOPQRSUVWXYZfg",
	"8QD":    "@79ABCDEFGKLMNOPQRSUVWXYZcefgjklmnopqrsuxz",
	"8QI":    "@79ABCDEFGKLMNOPQRSUVWXYZcefgjklmnopqrsuxz",
	"8TD":    "@79ABCDEFGKLMNOPQRSUVWXYZcefgjklmnopqrsuxz",
	"8TI":    "@79ABCDEFGKLMNOPQRSUVWXYZcefgjklmnopqrsuxz",
	"5.4.D":  "@\x01ABPQRSUYbdfgjmnx9",
	oldHexFw: "@789ABCFGKLMNOPQRSUVWXYZ",
}

// oldHexFw stands for firmware reported as two hex digits: old units
// that answer 'b' with a voltage above 255 V.
const oldHexFw = "set\x01"

// quirkyFw is firmware whose capability string runs past its end.
const quirkyFw = "451.2.I"

// Commands a UPS may list in its command set that NUT does not expose
// (or uses internally); they are neither variables nor instant commands.
const unexposedCmds = "\x1a\x7f~')-+8QRYayz"

// Alert characters and the sets of characters each kind of read drops.
const (
	alertChars   = "$!%+#?="
	ignoreAlerts = "\r|&"              // alert-aware reads
	ignoreCaps   = "\r|&$!%+?="        // the capability string read (keeps '#')
	ignorePlain  = "\r|&" + alertChars // every other read
	ignoreCmdSet = ""                  // the command set read keeps everything
)

// Option formats NUT checks at start-up.
var (
	awdFormat      = regexp.MustCompile(`^[0-9]{1,3}$`)
	sdtypeFormat   = regexp.MustCompile(`^[0-5]$`)
	advorderFormat = regexp.MustCompile(`^([0-4]{1,5}|[Nn][Oo])$`)
	cshdelayFormat = regexp.MustCompile(`^([0-9]\.?|[0-9]?\.[0-9])$`)
	cmdSetFormat   = regexp.MustCompile(`^[0-9]\.[^.]*\.[^.]+(\.[^.]+)?$`)
	hexFwFormat    = regexp.MustCompile(`^[a-fA-F0-9]{2}$`)
)

// Status bits of the reply to 'Q'.
const (
	statCal   = 1 << 0
	statTrim  = 1 << 1
	statBoost = 1 << 2
	statOL    = 1 << 3
	statOB    = 1 << 4
	statOver  = 1 << 5
	statLB    = 1 << 6
	statRB    = 1 << 7
)

// The window in which a nasty command must be repeated, in seconds.
const (
	minCmdTime = 3
	maxCmdTime = 15
)

// strLen is the length of the two string variables (ups.id, battery.date).
const strLen = 8

// cable940_0095B is the alternate cable that needs DTR up and RTS down.
const cable940_0095B = "940-0095B"
