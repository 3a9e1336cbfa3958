// Package names is NUT's variable and instant-command naming scheme: the
// descriptions upsd answers to GET DESC and GET CMDDESC, and the rules that
// say whether a name fits the scheme (Appendix C of the NUT user manual,
// "NUT command and variable naming scheme").
//
// Two different questions are answered here, on purpose by two different
// sources:
//
//   - VarDesc and CmdDesc give exactly what NUT 2.8.0's upsd answers. upsd
//     reads them from NUT's cmdvartab data file, which knows fewer names than
//     the manual and words many descriptions differently. Lookups are exact
//     but ignore ASCII case (upsd uses strcasecmp); there are no patterns, so
//     outlet.3.id or driver.parameter.port have no description.
//   - KnownVar and KnownCmd say whether a name is one a driver may publish:
//     a literal name from the manual or from cmdvartab, or an instance of the
//     manual's patterns (outlet.N.*, outlet.group.N.*, ambient.N.*, device.N.*
//     daisychain, three-phase DOMAIN.CONTEXT.SPEC, driver.parameter.*,
//     driver.flag.*). They are case-sensitive, as driver names are.
//
// The tables in zz_generated.go are generated from the manual by
// internal/gen, with internal/gen/upsd-2.8.0.fixes recording every
// difference from what the real upsd answers; names_nut_test.go checks them
// against a running NUT 2.8.0 upsd.
package names
