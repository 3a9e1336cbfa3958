#!/usr/bin/env python3
# Writes strftime_glibc.jsonl: what glibc's strftime (through Python's
# time.strftime, which calls it directly) gives for each format below at a
# few fixed instants, in UTC and in a fixed-offset zone. strftime_test.go
# checks tools/upslog's strftime against it. Regenerate on a glibc system:
#   (TZ=UTC python3 strftime_glibc.py; TZ=EST5 python3 strftime_glibc.py) > strftime_glibc.jsonl
import json
import os
import time

FORMATS = [
    "%a", "%A", "%b", "%h", "%B", "%c", "%C", "%d", "%D", "%e", "%F", "%g", "%G", "%H", "%I",
    "%j", "%k", "%l", "%m", "%M", "%n", "%p", "%P", "%r", "%R", "%s", "%S", "%t", "%T", "%u",
    "%U", "%V", "%w", "%W", "%x", "%X", "%y", "%Y", "%z", "%Z", "%%",
    # flags, widths, modifiers, and what glibc copies out as written
    "%10Y", "%_10Y", "%-Y", "%10F", "%^c", "%#Z", "%_5z", "%:z", "%Ec", "%EY", "%Oy", "%Ea",
    "%Od", "%Oe", "%OH", "%Ok", "%Oj", "%EC", "%Ex", "%EX", "%Ey", "%Eg", "%+Y", "%010a",
    "%-10a", "%^10p", "%#p", "%#P", "%^P", "%5%", "%5n", "%q", "%-q", "%E", "%O", "%5",
    "%10s", "%015s", "%-5d", "%_d", "%0e", "%-e", "%#a", "%#A", "%#b", "%#B", "%#c", "%^#a",
    "%^q", "%#q", "%Ep", "%Eu", "%EU", "%EH", "%05t", "%Ez", "%EZ", "%ER", "%Er", "%ED", "%OD",
    "%EF", "%Eh", "%Oh", "%OB", "%EP", "%Ek", "%EV", "%OV", "%Ee", "%OC", "%OY", "%OX", "%Ox",
    "%Oc", "%OG", "%Og", "%-z", "%_z", "%010z", "%^Z", "%10Z", "%3j", "%-j", "%_j", "%E5d",
    "%5Ed", "%^-10b", "%_-5d", "%0_5d", "%^%", "%E%", "%5E%", "% ", "%1", "%", "%_", "%^",
    "%Y%m%d %H%M%S", "%_3H:%-M %k %l%P", "%^D", "%12T", "%012T", "%^r", "%#r", "%-I", "%_I",
    "%Ew", "%Ow", "%EW", "%OU", "%OW", "%Oz", "%OZ", "%Es", "%Oa", "%OA", "%Ob", "%EB", "%Ol",
    "%OI", "%Om", "%OM", "%OS", "%Ou", "%EG", "%On", "%Et", "%OT", "%OR", "%Or", "%OF", "%Ej",
    "%El", "%Em", "%EM", "%ES", "%Ed", "x%", "a%b", "%%%", "@", "%-_^#0123d",
]
# 2026-11-24 (a Tuesday), the epoch, New Year 2024, the last days of 2024
# (ISO week 1 of 2025) and 2020 (ISO week 53), and an afternoon in 2000.
INSTANTS = [1795495416, 0, 1704067200, 1735603200, 1609459199, 946731600]

for sec in INSTANTS:
    t = time.localtime(sec)
    for f in FORMATS:
        print(json.dumps([os.environ["TZ"], sec, f, time.strftime(f, t)]))
