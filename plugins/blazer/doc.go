// Package blazer is the Megatec/Q1 protocol driver core shared by the
// blazer_ser and blazer_usb driver plugins: NUT 2.8.0's blazer.c rebuilt
// on the gonut SDK. It probes the protocol flavour (megatec, mustek,
// megatec/old, zinto) with NUT's retries, parses the Q1 (status), F
// (rating) and I (vendor) replies exactly as NUT does (ParseQ1, ParseF,
// ParseI), publishes the same variables with the same formatting, guesses
// the battery charge from its voltage and estimates the runtime from
// runtimecal, chargetime and idleload, and maps NUT's instant commands to
// Megatec commands (Q, S<n>R<m>, C, T, TL, T<n>, CT) with ondelay and
// offdelay.
//
// The device sits behind Transport: SerialTransport for blazer_ser (a
// serial line that is reopened with backoff when it disappears), and for
// blazer_usb a USB device (USBDevice, opened with gousb in production and
// replaced by an in-process fake in tests) framed by one of NUT's
// subdrivers (cypress, phoenix, ippon, krauler, and nutdrv_qx's fabula and
// fuji when named in ups.conf). The USB matching options
// (vendorid, productid, vendor, product, serial, bus, device) are
// regular expressions matched as NUT does (Matcher).
//
// The user's documentation is docs/drivers/blazer.md.
package blazer
