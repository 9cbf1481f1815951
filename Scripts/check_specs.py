#!/usr/bin/env python3
"""Checks the spec files in Specs/ (format: Specs/SCHEMA.md).

    python3 Scripts/check_specs.py            # all checks; exit status 1 on any failure

What it does, with nothing but the Python standard library:
  1. structure: every attribute name and value is one SCHEMA.md allows, every field and TLV element
     has a name and a description, lengths fit their prefixes, TLV elements fit their length digits,
     the message catalogue of dcswitch-1987 names only fields the spec defines;
  2. the reference message Fixtures/iso87ascii-0200.hex (a copy of shared/reference) decodes with iso8583-1987-ascii
     (and dcswitch-1987) to exactly Fixtures/iso87ascii-0200.json, re-encodes to the same
     bytes, and its DE 55 BER-TLV walks cleanly with every tag named in the spec;
  3. golden vectors worked out by hand from the jPOS source (ISO87APackager, ISO87BPackager,
     ISO93APackager and the IF* classes they use; see golden_* below) encode and decode byte-exactly;
  4. a DCSwitch 0200 with every DE 124 / DE 48 element at its maximum length round-trips;
  5. a seeded random round trip over every field of every spec, at minimum and maximum length.

The codec here is deliberately small and slow: it implements just the parts of the format the
four specs use (ASCII/hex/binary/BCD encodings, ASCII and BCD prefixes, hex and binary bitmaps).
"""

import json
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = os.path.join(ROOT, "Specs")
REFERENCE = os.path.join(ROOT, "Fixtures")  # copies of shared/reference, kept in the repository
SPEC_NAMES = ["iso8583-1987-ascii", "iso8583-1987-binary", "iso8583-1993-ascii", "dcswitch-1987"]

# ------------------------------------------------------------------ what SCHEMA.md allows
TOP_KEYS = {"name", "description", "extends", "header", "mti", "bitmap", "defaults", "fields",
            "version", "messages"}  # "version" and "messages": top-level keys the codec ignores
FIELD_KEYS = {"name", "description", "class", "length", "prefix", "prefixEncoding", "encoding",
              "counts", "padding", "padChar", "validation", "sensitive", "subfields"}
CLASSES = {"n", "a", "an", "ans", "as", "ns", "b", "z", "xn"}
PREFIXES = {"fixed": 0, "L": 1, "LL": 2, "LLL": 3, "LLLL": 4}
PREFIX_ENCODINGS = {"ascii", "bcd", "binary", "ebcdic037", "ebcdic1047"}
ENCODINGS = {"ascii", "ebcdic037", "ebcdic1047", "bcd", "binary", "hex"}
MTI_ENCODINGS = {"ascii", "bcd", "ebcdic037", "ebcdic1047"}
COUNTS = {"characters", "digits", "bytes"}
PADDINGS = {"left", "right", "none"}
VALIDATIONS = {"strict", "lenient", "none"}
SENSITIVE = {"pan", "track", "pin", "key", "signature", "full"}
TAG_KEYS = {"name", "sensitive"}
# "sensitive" on TLV elements: the brief asks for it (124.02, 48.02); SCHEMA.md shows it on BER-TLV
# tags and fields but not in its TLV element example.
ELEMENT_KEYS = {"id", "name", "description", "class", "length", "sensitive"}
MESSAGE_KEYS = {"mti", "name", "description", "flows", "mandatory", "optional", "conditions"}
FLOWS = {"account-open", "transfer-in", "redeem", "nfc", "qr-bsc", "qr-csb", "in-app"}


class CheckError(Exception):
    pass


failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
    return cond


# ------------------------------------------------------------------ loading
def read_raw(name):
    with open(os.path.join(SPECS, name + ".json"), encoding="utf-8") as fh:
        return json.load(fh)


def load(name):
    """The spec with `extends` resolved: header/mti/bitmap/defaults inherited unless given, and
    each overridden field replaced as a whole (the override files give every attribute)."""
    raw = read_raw(name)
    if "extends" in raw:
        base = load(raw["extends"])
        spec = dict(base)
        spec["fields"] = dict(base["fields"])
        for k, v in raw.items():
            if k != "fields":
                spec[k] = v
        spec["fields"].update(raw.get("fields", {}))
        return spec
    return raw


def effective(fd, spec):
    """Field definition with SCHEMA.md defaults filled in."""
    d = dict(fd)
    defaults = spec.get("defaults", {})
    d.setdefault("prefix", "fixed")
    d.setdefault("encoding", defaults.get("encoding", "ascii"))
    d.setdefault("prefixEncoding", defaults.get("prefixEncoding", "ascii"))
    if "counts" not in d:
        if d["encoding"] == "bcd" and d["class"] in ("n", "z", "xn"):
            d["counts"] = "digits"
        elif d["encoding"] in ("binary", "hex"):
            d["counts"] = "bytes"
        else:
            d["counts"] = "characters"
    d.setdefault("padding", "left" if d["class"] in ("n", "xn") else "right")
    if "padChar" not in d:
        d["padChar"] = "0" if d["class"] == "n" else ("\x00" if d["class"] == "b" else " ")
    return d


# ------------------------------------------------------------------ structure checks
def check_structure(name):
    raw = read_raw(name)
    where = name
    check(raw.get("name") == name, f"{where}: name must be {name!r}")
    check(raw.get("version") == 1, f"{where}: version must be 1")
    check(isinstance(raw.get("description"), str) and raw["description"], f"{where}: description")
    for k in raw:
        check(k in TOP_KEYS, f"{where}: unknown top-level key {k!r}")
    if "extends" not in raw:
        check(raw.get("header", {}).get("kind") in ("none", "tpdu", "fixed"), f"{where}: header.kind")
        check(raw.get("mti", {}).get("encoding") in MTI_ENCODINGS, f"{where}: mti.encoding")
        check(raw.get("bitmap", {}).get("encoding") in ("hex", "binary"), f"{where}: bitmap.encoding")
        check(isinstance(raw.get("bitmap", {}).get("tertiary"), bool), f"{where}: bitmap.tertiary")
        check(sorted(int(k) for k in raw["fields"]) == list(range(2, 129)),
              f"{where}: a full table lists exactly fields 2..128")
    spec = load(name)
    for num, fd in raw["fields"].items():
        check_field(f"{where} DE {num}", fd, spec)
    if "messages" in raw:
        check_messages(where, raw["messages"], spec)


def check_field(where, fd, spec):
    for k in fd:
        check(k in FIELD_KEYS, f"{where}: unknown attribute {k!r}")
    check(isinstance(fd.get("name"), str) and fd["name"].strip(), f"{where}: name")
    desc = fd.get("description")
    check(isinstance(desc, str) and desc.strip().endswith("."), f"{where}: description (one sentence)")
    check(fd.get("class") in CLASSES, f"{where}: class {fd.get('class')!r}")
    check(isinstance(fd.get("length"), int) and fd["length"] > 0, f"{where}: length")
    for key, allowed in (("prefix", PREFIXES), ("prefixEncoding", PREFIX_ENCODINGS),
                         ("encoding", ENCODINGS), ("counts", COUNTS), ("padding", PADDINGS),
                         ("validation", VALIDATIONS), ("sensitive", SENSITIVE)):
        if key in fd:
            check(fd[key] in allowed, f"{where}: {key} {fd[key]!r}")
    if "padChar" in fd:
        check(isinstance(fd["padChar"], str) and len(fd["padChar"]) == 1, f"{where}: padChar")
    d = effective(fd, spec)
    if d["encoding"] in ("hex", "binary"):
        check(d["class"] == "b", f"{where}: {d['encoding']} encoding is for class b")
    if d["encoding"] == "bcd":
        check(d["class"] in ("n", "z", "xn"), f"{where}: bcd encoding is for n, z, xn")
    if d["class"] == "b":
        check(d["encoding"] in ("hex", "binary"), f"{where}: class b needs hex or binary encoding")
    nd = PREFIXES.get(d["prefix"], 0)
    if nd:
        check(d["length"] <= 10 ** nd - 1, f"{where}: length {d['length']} does not fit a {d['prefix']} prefix")
    if "subfields" in fd:
        check_subfields(where, fd["subfields"], d)


def check_subfields(where, sf, d):
    fmt = sf.get("format")
    check(fmt in ("ber-tlv", "tlv", "positional"), f"{where}: subfields.format {fmt!r}")
    if fmt == "ber-tlv":
        check(d["class"] == "b", f"{where}: ber-tlv subfields need a class b field")
        check(set(sf) <= {"format", "tags"}, f"{where}: ber-tlv keys")
        for tag, t in sf["tags"].items():
            ok = len(tag) % 2 == 0 and all(c in "0123456789ABCDEF" for c in tag)
            check(ok, f"{where}: tag {tag!r} is not upper-case hex")
            raw = bytes.fromhex(tag)
            multi = raw[0] & 0x1F == 0x1F
            check(len(raw) == (2 if multi else 1), f"{where}: tag {tag} length does not match BER rules")
            for k in t:
                check(k in TAG_KEYS, f"{where}.{tag}: unknown attribute {k!r}")
            check(isinstance(t.get("name"), str) and t["name"], f"{where}.{tag}: name")
            if "sensitive" in t:
                check(t["sensitive"] in SENSITIVE, f"{where}.{tag}: sensitive")
    elif fmt == "tlv":
        check(set(sf) <= {"format", "tagLength", "lengthLength", "tagEncoding", "lengthEncoding", "elements"},
              f"{where}: tlv keys")
        tl, ll = sf.get("tagLength"), sf.get("lengthLength")
        check(isinstance(tl, int) and isinstance(ll, int), f"{where}: tagLength/lengthLength")
        check(sf.get("tagEncoding", "ascii") in ("ascii", "bcd", "binary", "ebcdic037", "ebcdic1047"), f"{where}: tagEncoding")
        check(sf.get("lengthEncoding", "ascii") in PREFIX_ENCODINGS, f"{where}: lengthEncoding")
        total = 0
        for eid, e in sf["elements"].items():
            ew = f"{where}.{eid}"
            check(len(eid) == tl, f"{ew}: tag length is not {tl}")
            for k in e:
                check(k in ELEMENT_KEYS, f"{ew}: unknown attribute {k!r}")
            check(isinstance(e.get("name"), str) and e["name"], f"{ew}: name")
            check(isinstance(e.get("description"), str) and e["description"].endswith("."), f"{ew}: description")
            check(e.get("class") in CLASSES, f"{ew}: class")
            check(isinstance(e.get("length"), int) and 0 < e["length"] <= 10 ** ll - 1,
                  f"{ew}: length does not fit {ll} length digits")
            if "sensitive" in e:
                check(e["sensitive"] in SENSITIVE, f"{ew}: sensitive")
            total += tl + ll + e.get("length", 0)
        check(total <= d["length"], f"{where}: all elements at maximum ({total}) exceed the field's {d['length']}")


def check_messages(where, messages, spec):
    seen = set()
    for m in messages:
        mw = f"{where} message {m.get('mti')}"
        for k in m:
            check(k in MESSAGE_KEYS, f"{mw}: unknown key {k!r}")
        check(isinstance(m.get("mti"), str) and len(m["mti"]) == 4 and m["mti"].isdigit(), f"{mw}: mti")
        check(m.get("mti") not in seen, f"{mw}: listed twice")
        seen.add(m.get("mti"))
        check(isinstance(m.get("name"), str) and m["name"], f"{mw}: name")
        check(isinstance(m.get("description"), str) and m["description"].endswith("."), f"{mw}: description")
        for flow in m.get("flows", []):
            check(flow in FLOWS, f"{mw}: unknown flow {flow!r}")
        mand, opt = m.get("mandatory", []), m.get("optional", [])
        check(not set(mand) & set(opt), f"{mw}: field both mandatory and optional")
        for f in mand + opt:
            check(isinstance(f, str) and f in spec["fields"], f"{mw}: field {f!r} is not in the spec")
        for f in m.get("conditions", {}):
            check(f in mand + opt, f"{mw}: condition on field {f} not listed")
    for mti in ["0100", "0110", "0200", "0210", "0420", "0421", "0430", "0500", "0510", "0800", "0810"]:
        check(mti in seen, f"{where}: message catalogue lacks {mti}")


# ------------------------------------------------------------------ a small codec
def wire_size(d, units):
    """Bytes on the wire for `units` of what the field counts."""
    enc, counts = d["encoding"], d["counts"]
    if enc in ("ascii", "ebcdic037", "ebcdic1047"):
        return units
    if enc == "hex":
        return units * 2 if counts == "bytes" else units
    if enc == "binary":
        return units
    if enc == "bcd":
        if counts == "bytes":
            return units
        if d["class"] == "xn":  # one ASCII sign byte, then the digits packed
            return 1 + (units - 1 + 1) // 2
        return (units + 1) // 2
    raise CheckError(f"encoding {enc}")


def text_units(d, text):
    """How many counted units a field's text form holds."""
    enc, counts = d["encoding"], d["counts"]
    if enc in ("hex", "binary"):
        return len(text) // 2 if counts == "bytes" else len(text)
    return len(text)


def bcd_pack(digits, left):
    if len(digits) % 2:
        digits = "0" + digits if left else digits + "0"
    out = bytearray()
    for i in range(0, len(digits), 2):
        out.append(nib(digits[i]) << 4 | nib(digits[i + 1]))
    return bytes(out)


def nib(c):
    if c == "=":
        return 0xD
    if not c.isdigit():
        raise CheckError(f"not a BCD digit: {c!r}")
    return ord(c) - 48


def bcd_unpack(data, ndigits, left, cls):
    s = []
    for b in data:
        s.append(b >> 4)
        s.append(b & 0xF)
    if len(s) > ndigits:
        s = s[1:] if left else s[:ndigits]
    out = []
    for v in s:
        if v <= 9:
            out.append(chr(48 + v))
        elif v == 0xD and cls == "z":
            out.append("=")
        else:
            raise CheckError(f"bad BCD nibble {v:X}")
    return "".join(out)


def encode_prefix(d, n):
    nd = PREFIXES[d["prefix"]]
    if d["prefixEncoding"] == "ascii":
        return str(n).zfill(nd).encode()
    if d["prefixEncoding"] == "bcd":
        return bcd_pack(str(n).zfill(nd + (nd % 2)), True)
    raise CheckError(f"prefix encoding {d['prefixEncoding']}")


def decode_prefix(d, data, off):
    nd = PREFIXES[d["prefix"]]
    if d["prefixEncoding"] == "ascii":
        raw = data[off:off + nd]
        if len(raw) < nd or not raw.isdigit():
            raise CheckError(f"bad ASCII length prefix {raw!r} at {off}")
        return int(raw), off + nd
    if d["prefixEncoding"] == "bcd":
        nb = (nd + 1) // 2
        return int(bcd_unpack(data[off:off + nb], nb * 2, True, "n")), off + nb
    raise CheckError(f"prefix encoding {d['prefixEncoding']}")


def encode_value(d, text):
    cls, enc = d["class"], d["encoding"]
    if d["prefix"] == "fixed" and cls != "b":
        if cls == "xn":
            text = text[0] + text[1:].rjust(d["length"] - 1, "0")
        elif len(text) < d["length"]:
            text = text.rjust(d["length"], d["padChar"]) if d["padding"] == "left" else text.ljust(d["length"], d["padChar"])
    if enc == "ascii":
        return text.encode("latin-1")
    if enc == "hex":
        return text.upper().encode()
    if enc == "binary":
        return bytes.fromhex(text)
    if enc == "bcd":
        if cls == "xn":
            return text[0].encode() + bcd_pack(text[1:], d["padding"] == "left")
        return bcd_pack(text, d["padding"] == "left")
    raise CheckError(enc)


def decode_value(d, raw, units):
    cls, enc = d["class"], d["encoding"]
    if enc == "ascii":
        return raw.decode("latin-1")
    if enc == "hex":
        t = raw.decode("ascii")
        if any(c not in "0123456789ABCDEFabcdef" for c in t):
            raise CheckError("non-hex character in a hex field")
        return t.upper()
    if enc == "binary":
        return raw.hex().upper()
    if enc == "bcd":
        if cls == "xn":
            return chr(raw[0]) + bcd_unpack(raw[1:], units - 1, d["padding"] == "left", "n")
        return bcd_unpack(raw, units, d["padding"] == "left", cls)
    raise CheckError(enc)


def valid_content(d, text):
    cls = d["class"]
    if cls == "n":
        return all(c.isdigit() for c in text)
    if cls == "z":
        return all(c.isdigit() or c == "=" for c in text)
    if cls == "xn":
        return text[:1] in ("C", "D") and text[1:].isdigit()
    if cls == "an":
        return all(c.isalnum() for c in text.rstrip(" "))
    if cls == "ans":
        return all(32 <= ord(c) < 127 for c in text)
    if cls == "b":
        return len(text) % 2 == 0 and all(c in "0123456789ABCDEF" for c in text)
    return True


class Codec:
    def __init__(self, name):
        self.name = name
        self.spec = load(name)
        self.defs = {int(k): effective(v, self.spec) for k, v in self.spec["fields"].items()}

    def encode_field(self, num, text):
        d = self.defs[num]
        if not valid_content(d, text):
            raise CheckError(f"{self.name} DE {num}: {text!r} is not class {d['class']}")
        units = text_units(d, text)
        if units > d["length"]:
            raise CheckError(f"{self.name} DE {num}: {units} over the maximum {d['length']}")
        if d["prefix"] == "fixed":
            if d["class"] == "b" and units != d["length"]:
                raise CheckError(f"{self.name} DE {num}: b field must be exactly {d['length']}")
            return encode_value(d, text)
        return encode_prefix(d, units) + encode_value(d, text)

    def encode(self, mti, fields):
        out = bytearray()
        menc = self.spec["mti"]["encoding"]
        out += mti.encode() if menc == "ascii" else bcd_pack(mti, True)
        nums = sorted(int(k) for k in fields)
        bits = set(nums)
        if any(n > 64 for n in nums):
            bits.add(1)
        nbits = 128 if 1 in bits else 64
        bm = 0
        for b in bits:
            bm |= 1 << (nbits - b)
        raw = bm.to_bytes(nbits // 8, "big")
        out += raw.hex().upper().encode() if self.spec["bitmap"]["encoding"] == "hex" else raw
        for n in nums:
            out += self.encode_field(n, fields[str(n)])
        return bytes(out)

    def decode(self, data):
        off = 0
        if self.spec["mti"]["encoding"] == "ascii":
            mti, off = data[:4].decode(), 4
        else:
            mti, off = bcd_unpack(data[:2], 4, True, "n"), 2
        hexbm = self.spec["bitmap"]["encoding"] == "hex"

        def read_bitmap(off):
            if hexbm:
                return int(data[off:off + 16], 16), off + 16
            return int.from_bytes(data[off:off + 8], "big"), off + 8

        bm, off = read_bitmap(off)
        present = [i for i in range(1, 65) if bm >> (64 - i) & 1]
        if 1 in present:
            bm2, off = read_bitmap(off)
            present += [64 + i for i in range(1, 65) if bm2 >> (64 - i) & 1]
        fields, warnings = {}, []
        for n in present:
            if n == 1:
                continue
            if n not in self.defs:
                raise CheckError(f"{self.name}: field {n} is not defined")
            d = self.defs[n]
            start = off
            if d["prefix"] == "fixed":
                units = d["length"]
            else:
                units, off = decode_prefix(d, data, off)
                if units > d["length"]:
                    raise CheckError(f"{self.name} DE {n}: length {units} over {d['length']} at {start}")
            size = wire_size(d, units)
            raw = data[off:off + size]
            if len(raw) < size:
                raise CheckError(f"{self.name} DE {n}: truncated at {off}")
            off += size
            text = decode_value(d, raw, units)
            if not valid_content(d, text):
                warnings.append(f"DE {n}: {text!r} is not class {d['class']}")
            fields[str(n)] = text
        if off != len(data):
            raise CheckError(f"{self.name}: {len(data) - off} trailing bytes")
        return mti, fields, warnings


# ------------------------------------------------------------------ subfield walkers
def ber_tlv(data):
    out, i = [], 0
    while i < len(data):
        t = bytes([data[i]])
        i += 1
        if t[0] & 0x1F == 0x1F:
            while True:
                t += bytes([data[i]])
                i += 1
                if not t[-1] & 0x80:
                    break
        ln = data[i]
        i += 1
        if ln & 0x80:
            k = ln & 0x7F
            ln = int.from_bytes(data[i:i + k], "big")
            i += k
        if i + ln > len(data):
            raise CheckError(f"BER-TLV tag {t.hex().upper()} overruns the field")
        out.append((t.hex().upper(), data[i:i + ln].hex().upper()))
        i += ln
    return out


def tlv_encode(sf, items):
    tl, ll = sf["tagLength"], sf["lengthLength"]
    return "".join(f"{tag}{len(v):0{ll}d}{v}" for tag, v in items)


def tlv_decode(sf, text):
    tl, ll = sf["tagLength"], sf["lengthLength"]
    out, i = [], 0
    while i < len(text):
        tag = text[i:i + tl]
        ln = text[i + tl:i + tl + ll]
        if len(ln) < ll or not ln.isdigit():
            raise CheckError(f"bad TLV length {ln!r} at {i}")
        i += tl + ll
        v = text[i:i + int(ln)]
        if len(v) < int(ln):
            raise CheckError(f"TLV {tag} overruns the field")
        out.append((tag, v))
        i += int(ln)
    return out


# ------------------------------------------------------------------ checks against references
def check_reference():
    with open(os.path.join(REFERENCE, "iso87ascii-0200.hex")) as fh:
        data = bytes.fromhex(fh.read().strip())
    with open(os.path.join(REFERENCE, "iso87ascii-0200.json")) as fh:
        want = json.load(fh)
    for name in ("iso8583-1987-ascii", "dcswitch-1987"):
        c = Codec(name)
        mti, fields, warnings = c.decode(data)
        check(mti == want["mti"], f"reference/{name}: MTI {mti}")
        check(fields == want["fields"], f"reference/{name}: fields differ: " + ", ".join(
            k for k in sorted(set(fields) | set(want["fields"]), key=int) if fields.get(k) != want["fields"].get(k)))
        check(not warnings, f"reference/{name}: warnings {warnings}")
        check(c.encode(mti, fields) == data, f"reference/{name}: re-encoding changes the bytes")
    tags = load("iso8583-1987-ascii")["fields"]["55"]["subfields"]["tags"]
    walked = ber_tlv(bytes.fromhex(want["fields"]["55"]))
    check([t for t, _ in walked] == ["9F26", "9F27", "9F10", "9F37", "9F36", "95"], f"reference DE 55 tags {walked}")
    for t, _ in walked:
        check(t in tags, f"reference DE 55: tag {t} has no name in the spec")
    # The wire form of DE 55: LLL counts hex characters (jPOS IFA_LLLCHAR(999)): "088" + 88 chars.
    check(b"088" + want["fields"]["55"].encode() in data, "reference DE 55: LLL prefix should be 088")


def golden(name, cases):
    """cases: (field, text, expected wire hex). Each field alone, encoded and decoded."""
    c = Codec(name)
    for num, text, wire in cases:
        try:
            got = c.encode_field(num, text).hex().upper()
        except CheckError as e:
            check(False, f"golden {name} DE {num}: {e}")
            continue
        check(got == wire, f"golden {name} DE {num}: encoded {got}, jPOS gives {wire}")


def golden_87a():
    # ISO87APackager, by class:
    #  IFA_LLNUM(19): AsciiPrefixer.LL + ASCII digits, no padding.
    #  IFA_NUMERIC(n): LeftPadder.ZERO_PADDER to n, ASCII.
    #  IFA_AMOUNT(9): ISOAmountFieldPackager: sign char, then amount zero-padded to len-1, ASCII.
    #  IF_CHAR(n): RightPadder.SPACE_PADDER to n.
    #  IFA_BINARY(n): AsciiHexInterpreter, n bytes -> 2n upper-case hex characters, no prefix.
    #  IFA_LLLCHAR(999) DE 55: AsciiPrefixer.LLL counting characters (our b/hex/counts characters).
    a = lambda s: s.encode().hex().upper()
    golden("iso8583-1987-ascii", [
        (2, "4761739001010119", a("16") + a("4761739001010119")),
        (4, "10000", a("000000010000")),
        (28, "D150", a("D00000150")),
        (97, "C1234", a("C0000000000001234")),
        (35, "4761739001010119=2512", a("21") + a("4761739001010119=2512")),
        (41, "TERM1", a("TERM1   ")),
        (52, "0123456789ABCDEF", a("0123456789ABCDEF")),
        (65, "00", a("00")),
        (96, "00" * 16, a("00" * 16)),
        (55, "9F2701809F360200FF", a("018") + a("9F2701809F360200FF")),
        (102, "12345", a("05") + a("12345")),
        (124, "X" * 5, a("005") + a("XXXXX")),
    ])


def golden_87b():
    # ISO87BPackager, by class (jPOS source: IFB_NUMERIC, IFB_LLNUM, IFB_AMOUNT, IFB_LLCHAR,
    # IFB_LLLCHAR, IFB_BINARY, BCDInterpreter, BcdPrefixer, ISOUtil.str2bcd/bcd2str):
    #  MTI IFB_NUMERIC(4, true): 2 bytes BCD.  Bitmap IFB_BITMAP: 8 raw bytes each.
    #  IFB_NUMERIC(n, true): LeftPadder.ZERO_PADDER to n digits, BCD LEFT_PADDED -> ceil(n/2) bytes,
    #    an odd n gets a 0 nibble first (DE 22 "051" -> 00 51).
    #  IFB_LLNUM(n, pad=false): BcdPrefixer.LL = 1 byte holding the digit count in BCD, then BCD
    #    RIGHT_PADDED: an odd count gets a trailing 0 nibble (19-digit PAN -> 0x19 + 10 bytes).
    #    Track 2 (DE 35) goes through the same path: str2bcd maps '=' (0x3D - '0' = 13) to nibble D,
    #    bcd2str maps D back to '='.
    #  IFB_AMOUNT(9, true): byte 0 = the sign character as ASCII ('C' 0x43 / 'D' 0x44), then
    #    len-1 = 8 digits zero-padded left, BCD -> 1 + (9 >> 1) = 5 bytes. IFB_AMOUNT(17, pad):
    #    1 + 8 = 9 bytes.
    #  IFB_LLCHAR: BcdPrefixer.LL (1 byte), ASCII. IFB_LLLCHAR: BcdPrefixer.LLL = 2 bytes
    #    ((3 + 1) >> 1), e.g. 999 -> 09 99, then ASCII.
    #  IF_CHAR(n): ASCII, space padded right to n.
    #  IFB_BINARY(n): n raw bytes.
    a = lambda s: s.encode().hex().upper()
    golden("iso8583-1987-binary", [
        (2, "4761739001010119", "16" + "4761739001010119"),
        (2, "4761739001010119123", "19" + "47617390010101191230"),
        (3, "0", "000000"),
        (4, "10000", "000000010000"),
        (7, "0615123456", "0615123456"),
        (22, "051", "0051"),
        (27, "6", "06"),
        (28, "D150", "44" + "00000150"),
        (32, "12345678901", "11" + "123456789010"),
        (35, "4761739001010119=25122011758928889", "34" + "4761739001010119D25122011758928889"),
        (35, "4761739001010119=2512201", "24" + "4761739001010119D2512201"),
        (37, "123456789012", a("123456789012")),
        (41, "TERM1", a("TERM1   ")),
        (44, "AB", "02" + a("AB")),
        (48, "ABC", "0003" + a("ABC")),
        (48, "X" * 999, "0999" + a("X" * 999)),
        (52, "0123456789ABCDEF", "0123456789ABCDEF"),
        (55, "9F2701809F360200FF", "0009" + "9F2701809F360200FF"),
        (65, "01", "01"),
        (70, "301", "0301"),
        (90, "0200" + "0" * 38, "0200" + "0" * 38),
        (96, "AB" * 16, "AB" * 16),
        (97, "C1234", "43" + "0000000000001234"),
    ])
    # A whole message, assembled field by field from the expectations above.
    c = Codec("iso8583-1987-binary")
    fields = {"2": "4761739001010119123", "3": "000000", "4": "000000010000", "11": "123456",
              "22": "051", "28": "D00000150", "35": "4761739001010119=25122011758928889",
              "41": "TERM0001", "52": "0123456789ABCDEF", "70": "301", "97": "C0000000000001234"}
    wire = c.encode("0200", fields)
    bm = 0
    for b in [1] + [int(k) for k in fields]:
        bm |= 1 << (128 - b)
    want = ("0200" + f"{bm:032X}" + "19" + "47617390010101191230" + "000000" + "000000010000" + "123456"
            + "0051" + "4400000150" + "34" + "4761739001010119D25122011758928889" + a("TERM0001")
            + "0123456789ABCDEF" + "0301" + "43" + "0000000000001234")
    check(wire.hex().upper() == want, f"87B message: {wire.hex().upper()} != {want}")
    # 2 MTI + 16 bitmaps + DE 2: 11 + DE 3: 3 + DE 4: 6 + DE 11: 3 + DE 22: 2 + DE 28: 5 + DE 35: 18
    # + DE 41: 8 + DE 52: 8 + DE 70: 2 + DE 97: 9 = 93 bytes, as jPOS packs it.
    check(len(wire) == 93, f"87B message length {len(wire)}, jPOS packs 93")
    mti, back, warnings = c.decode(wire)
    check(mti == "0200" and back == fields and not warnings, f"87B message does not round-trip: {back}")


def golden_93a():
    # ISO93APackager: DE 22 IF_CHAR(12); DE 24 IFA_NUMERIC(3); DE 39 IFA_NUMERIC(3);
    # DE 53 IFA_LLBINARY(48) and DE 55 IFA_LLLBINARY(255): ISOBinaryFieldPackager with
    # LiteralBinaryInterpreter and AsciiPrefixer: an ASCII prefix counting bytes, then raw bytes
    # (not hex text). DE 97 IFA_AMOUNT(1+16).
    a = lambda s: s.encode().hex().upper()
    golden("iso8583-1993-ascii", [
        (12, "250615123456", a("250615123456")),
        (22, "A1010151134C", a("A1010151134C")),
        (24, "200", a("200")),
        (39, "0", a("000")),
        (53, "0102", a("02") + "0102"),
        (55, "9F2701809F360200FF", a("009") + "9F2701809F360200FF"),
        (96, "AB" * 3, a("003") + "ABABAB"),
        (97, "D1", a("D0000000000000001")),
        (65, "00" * 8, a("00" * 8)),
    ])


def check_dcswitch():
    c = Codec("dcswitch-1987")
    spec = load("dcswitch-1987")
    f124 = spec["fields"]["124"]["subfields"]
    f48 = spec["fields"]["48"]["subfields"]
    rnd = random.Random(124)

    def fill(e):
        return "".join(rnd.choice("0123456789") if e["class"] == "n" else rnd.choice("ABCDEF0123456789:;=-")
                       for _ in range(e["length"]))

    items124 = [(k, fill(e)) for k, e in f124["elements"].items()]
    items48 = [(k, fill(e)) for k, e in f48["elements"].items()]
    fields = {"3": "400000", "4": "000000012345", "7": "0615123456", "11": "000001", "12": "123456",
              "13": "0615", "32": "10000000001", "37": "000000000001", "41": "TERM0001", "49": "156",
              "48": tlv_encode(f48, items48), "102": "W" * 256, "103": "P" * 256,
              "124": tlv_encode(f124, items124)}
    wire = c.encode("0200", fields)
    mti, back, warnings = c.decode(wire)
    check(back == fields and not warnings, "dcswitch 0200 with every element at maximum does not round-trip")
    check(tlv_decode(f124, back["124"]) == items124, "dcswitch DE 124 TLV walk")
    check(tlv_decode(f48, back["48"]) == items48, "dcswitch DE 48 TLV walk")
    text = wire.decode("latin-1")
    check(("0256" + "W" * 256) not in text and ("256" + "W" * 256) in text, "DE 102 is LLL 256")
    check(f"{len(fields['124']):04d}" + fields["124"][:10] in text, "DE 124 has a 4-digit prefix")
    # Example values from the brief, through the TLV form.
    sample = tlv_encode(f124, [("13", "qr-bsc"), ("03", "C1:500;C2:250"), ("09", "expiry=2026-12-31;sector=5411;rate=0")])
    check(sample == "13006qr-bsc03013C1:500;C2:25009036expiry=2026-12-31;sector=5411;rate=0", f"124 sample {sample}")


def random_text(d, units, rnd):
    cls = d["class"]
    if cls == "b":
        n = units if d["counts"] == "bytes" else units // 2
        return "".join(rnd.choice("0123456789ABCDEF") for _ in range(2 * n))
    if cls == "n":
        return "".join(rnd.choice("0123456789") for _ in range(units))
    if cls == "z":
        return "".join(rnd.choice("0123456789=") for _ in range(units))
    if cls == "xn":
        return rnd.choice("CD") + "".join(rnd.choice("0123456789") for _ in range(units - 1))
    if cls == "an":
        return "".join(rnd.choice("ABCXYZ0123456789") for _ in range(units))
    return "".join(rnd.choice("ABC xyz 0189 =:;/-.,") for _ in range(units))


def check_random_round_trips():
    rnd = random.Random(8583)
    for name in SPEC_NAMES:
        c = Codec(name)
        nums = sorted(c.defs)
        for trial in range(40):
            fields = {}
            for n in nums:
                if trial >= 2 and rnd.random() < 0.6:
                    continue
                d = c.defs[n]
                if d["prefix"] == "fixed":
                    units = d["length"]
                else:
                    units = [0, d["length"], rnd.randint(0, d["length"])][trial % 3 if trial >= 2 else trial]
                if d["class"] == "b" and d["counts"] == "characters":
                    units -= units % 2
                if d["class"] == "xn" and units == 0:
                    units = 1
                fields[str(n)] = random_text(d, units, rnd)
            if trial % 5 == 4:  # without a secondary bitmap
                fields = {k: v for k, v in fields.items() if int(k) <= 64}
            try:
                wire = c.encode("0200", fields)
                mti, back, warnings = c.decode(wire)
            except CheckError as e:
                check(False, f"random {name} trial {trial}: {e}")
                continue
            check(back == fields, f"random {name} trial {trial}: fields differ " + ", ".join(
                k for k in fields if back.get(k) != fields[k]))
            check(c.encode(mti, back) == wire, f"random {name} trial {trial}: bytes differ")


def main():
    for name in SPEC_NAMES:
        check_structure(name)
    steps = [check_reference, golden_87a, golden_87b, golden_93a, check_dcswitch, check_random_round_trips]
    for step in steps:
        try:
            step()
        except (CheckError, KeyError, ValueError, IndexError) as e:
            check(False, f"{step.__name__}: {type(e).__name__}: {e}")
    if failures:
        for f in failures:
            print("FAIL", f)
        print(f"{len(failures)} failure(s)")
        return 1
    print(f"ok: {', '.join(SPEC_NAMES)}: structure, reference 0200, jPOS golden vectors, DE 124/48, random round trips")
    return 0


if __name__ == "__main__":
    sys.exit(main())
