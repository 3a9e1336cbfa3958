#!/usr/bin/python3
"""A PyNUT (python3-nut) session against one upsd, printed as JSON.

Usage: pynut_session.py HOST PORT

Each step calls one PyNUTClient method the way a program using PyNUT
would; its result, or the exception it raised, is recorded under the
step's name. realclients' TestPyNUT runs this against NUT's upsd and
gonut's and compares the two outputs. The server's users are those of
realclients' stacks (admin, monp, mons).
"""
import json
import sys
import time

import PyNUT


def plain(v):
    """Bytes to text (latin-1 keeps every byte), recursively."""
    if isinstance(v, bytes):
        return v.decode("latin-1")
    if isinstance(v, dict):
        return {plain(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    out = {}

    def step(name, fn):
        try:
            out[name] = plain(fn())
        except Exception as e:  # PyNUTError above all; anything else is recorded too
            out[name] = {"raised": type(e).__name__, "args": plain(list(e.args))}

    def wait_var(client, ups, var, want):
        deadline = time.time() + 10
        while True:
            v = client.GetUPSVars(ups).get(var.encode())
            if v == want.encode() or time.time() > deadline:
                return v

    anon = PyNUT.PyNUTClient(host, port)
    step("ver", anon.ver)
    step("help", anon.help)
    step("GetUPSList", anon.GetUPSList)
    step("GetUPSVars ups", lambda: anon.GetUPSVars("ups"))
    step("GetUPSVars dead", lambda: anon.GetUPSVars("dead"))
    step("GetUPSVars nosuch", lambda: anon.GetUPSVars("nosuch"))
    step("GetUPSCommands ups", lambda: anon.GetUPSCommands("ups"))
    step("GetUPSCommands nosuch", lambda: anon.GetUPSCommands("nosuch"))
    step("GetRWVars ups", lambda: anon.GetRWVars("ups"))
    # PyNUT asks "LIST CLIENTS", which no upsd knows.
    step("ListClients", anon.ListClients)
    step("SetRWVar without login", lambda: anon.SetRWVar("ups", "ups.load", "5"))
    step("RunUPSCommand without login", lambda: anon.RunUPSCommand("ups", "load.off"))

    admin = PyNUT.PyNUTClient(host, port, "admin", "adminpass")
    step("SetRWVar ups.load", lambda: admin.SetRWVar("ups", "ups.load", "42"))
    step("ups.load after SetRWVar", lambda: wait_var(anon, "ups", "ups.load", "42"))
    step("SetRWVar no.such", lambda: admin.SetRWVar("ups", "no.such", "1"))
    step("SetRWVar too long", lambda: admin.SetRWVar("ups", "ups.mfr", "x" * 40))
    step("SetRWVar dead", lambda: admin.SetRWVar("dead", "ups.load", "1"))
    step("RunUPSCommand load.off", lambda: admin.RunUPSCommand("ups", "load.off"))
    step("RunUPSCommand no.such", lambda: admin.RunUPSCommand("ups", "no.such"))
    step("RunUPSCommand nosuch ups", lambda: admin.RunUPSCommand("nosuch", "load.off"))

    wrong = PyNUT.PyNUTClient(host, port, "admin", "wrong")
    step("SetRWVar wrong password", lambda: wrong.SetRWVar("ups", "ups.load", "1"))
    step("RunUPSCommand wrong password", lambda: wrong.RunUPSCommand("ups", "load.off"))

    secondary = PyNUT.PyNUTClient(host, port, "mons", "monspass")
    step("FSD as secondary", lambda: secondary.FSD("ups"))
    primary = PyNUT.PyNUTClient(host, port, "monp", "monpass")
    step("FSD as primary", lambda: primary.FSD("ups"))
    step("ups.status after FSD", lambda: anon.GetUPSVars("ups").get(b"ups.status"))

    print(json.dumps(out, sort_keys=True, indent=1))


main()
