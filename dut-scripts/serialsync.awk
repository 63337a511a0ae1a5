# serialsync.awk - the wire side of the dut-scripts/lava-* helpers.
#
# Speaks the serialsync dialect of docs/PROTOCOL.md (section 2): prints one
# request marker, then reads the host's reply lines from the console (stdin)
# until the whole reply for its own token has arrived, checked part by part.
# POSIX awk only: it runs under busybox awk, mawk and gawk.  Run it with
# LC_ALL=C so that every string is bytes.
#
#   awk -f serialsync.awk -- NAME TOKEN FILE OP [ARG ...]
#
#   NAME   the helper's name, prefixed to every message (lava-wait ...)
#   TOKEN  BOOT.PID, unique per call (checked by the caller)
#   FILE   WAIT / WAIT_ALL: the cache file ($FILE.enc is written too);
#          GROUP: the group file; otherwise unused (may be empty)
#   OP     SEND ID [key=value ...] | SYNC ID | WAIT ID | WAIT_ALL ID [ROLE] | GROUP
#
# Every argument arrives as an operand, never with -v (which would process
# backslash escapes); BEGIN copies the operands and deletes them from ARGV
# before awk could take one holding "=" for an assignment, so the plain
# getline below reads the console from stdin.  The caller has validated IDs,
# keys and roles; values are raw bytes and travel percent-encoded.  Received
# data is only ever written with printf "%s": nothing here runs a command.
#
# Exit status: 0 ok, 1 nack / bad reply / console closed, 2 data too long
# for one marker.

BEGIN {
    ss_init()
    a = 1
    if (ARGV[a] == "--")
        a++
    name = ARGV[a]; tok = ARGV[a + 1]; file = ARGV[a + 2]; op = ARGV[a + 3]
    head = "SERIALSYNC1 " tok " " op
    for (i = a + 4; i < ARGC; i++) {
        arg = ARGV[i]
        p = index(arg, "=")
        if (op == "SEND" && i > a + 4)  # key=VALUE: the key is \w+, the value any bytes
            arg = substr(arg, 1, p) encode(substr(arg, p + 1))
        head = head " " arg
    }
    for (i = 1; i < ARGC; i++)
        delete ARGV[i]
    ARGC = 1

    marker = "<" head " " adler(head) ">"
    if (length(marker) > 65536)  # the host drops longer markers (max_marker_bytes)
        exit complain("data too long: the request would be " length(marker) " bytes, at most 65536 go in one marker") + 1
    head = "SERIALSYNC1 " tok " RESEND"
    resend = "<" head " " adler(head) ">"
    head = "SERIALSYNC1 " tok " DONE"
    done = "<" head " " adler(head) ">"
    say(marker)
    exit collect()
}

function ss_init(    i, c, hi, lo, up, low, safechars) {
    up = "0123456789ABCDEF"
    low = "0123456789abcdef"
    safechars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-/:@+,"
    for (i = 1; i <= length(safechars); i++)
        safe[substr(safechars, i, 1)] = 1
    for (i = 1; i < 256; i++) {
        c = sprintf("%c", i)
        ord[c] = i
        enc[c] = (c in safe) ? c : "%" substr(up, int(i / 16) + 1, 1) substr(up, i % 16 + 1, 1)
    }
    # "%XX" -> byte, either hex case.  (Byte 0 cannot live in every awk's
    # strings: busybox awk drops it.)
    for (hi = 0; hi < 16; hi++)
        for (lo = 0; lo < 16; lo++) {
            c = sprintf("%c", hi * 16 + lo)
            hexbyte[substr(up, hi + 1, 1) substr(up, lo + 1, 1)] = c
            hexbyte[substr(up, hi + 1, 1) substr(low, lo + 1, 1)] = c
            hexbyte[substr(low, hi + 1, 1) substr(up, lo + 1, 1)] = c
            hexbyte[substr(low, hi + 1, 1) substr(low, lo + 1, 1)] = c
        }
    RETRY = "#SERIALSYNC1 RETRY"
    REPLY = "#SERIALSYNC1 "
}

# One line, one write: nothing else on the console can get into its middle.
# A marker goes to the console. With SERIALSYNC_KMSG set (by the helper, only
# when /dev/kmsg is writable) it goes through the kernel log at level 0
# instead: the kernel prints a log line whole, so its own messages can
# never split it. Long markers exceed a kernel log line and go to stdout.
function say(line) {
    if (ENVIRON["SERIALSYNC_KMSG"] == "/dev/kmsg" && length(line) < 900) {
        printf "<0>%s\n", line > "/dev/kmsg"
        close("/dev/kmsg")
        return
    }
    printf "%s\n", line
    fflush()
}

function complain(text,    i, n, c, out) {
    n = length(text)
    out = ""
    for (i = 1; i <= n; i++) {  # keep the console sane: no control bytes
        c = substr(text, i, 1)
        out = out ((ord[c] < 32 && c != "\t") || ord[c] == 127 ? "?" : c)
    }
    printf "%s", name ": " out "\n" > "/dev/stderr"  # one write
    return 1
}

# Adler-32 with + and % only, as 8 hex digits.  Printed in two halves: some
# awks (busybox) overflow %x above 2^31.
function adler(s,    a, b, i, n) {
    a = 1
    b = 0
    n = length(s)
    for (i = 1; i <= n; i++) {
        a = (a + ord[substr(s, i, 1)]) % 65521
        b = (b + a) % 65521
    }
    return sprintf("%04x%04x", b, a)
}

# Appending byte by byte to one long string copies it every time; build
# short pieces and append those, so a 5000-byte value stays cheap.
function encode(v,    out, piece, i, n) {
    out = ""
    piece = ""
    n = length(v)
    for (i = 1; i <= n; i++) {
        piece = piece enc[substr(v, i, 1)]
        if (length(piece) >= 96) {
            out = out piece
            piece = ""
        }
    }
    return out piece
}

# Percent-decoding; sets bad = 1 (and returns "") unless s is a valid encoding.
function decode(s,    out, piece, i, n, c, h) {
    bad = 0
    out = ""
    piece = ""
    n = length(s)
    for (i = 1; i <= n; i++) {
        c = substr(s, i, 1)
        if (c == "%") {
            h = substr(s, i + 1, 2)
            if (!(h in hexbyte)) {
                bad = 1
                return ""
            }
            piece = piece hexbyte[h]
            i += 2
        } else if (c in safe) {
            piece = piece c
        } else {
            bad = 1
            return ""
        }
        if (length(piece) >= 64) {
            out = out piece
            piece = ""
        }
    }
    return out piece
}

# Read reply lines until the whole reply to our token arrived; returns the
# exit status.  Lines that are not ours (console noise, intact replies to
# other tokens) are skipped.  A damaged reply line (ours, as far as anyone
# can tell: its token may be what was hit), a line carrying our token with
# its prefix damaged, or a part out of order throws away what was collected
# and asks for the whole reply again (RESEND).  Asking too often is
# harmless: the host answers a RESEND for a pending call with nothing.
function collect(    r, line, rest, p, t, part, crc, chunk, ok, i, n) {
    expect = 1      # the part wanted next
    total = 0       # N of the reply being collected
    body = ""
    resync = 0      # 1 after a RESEND: skip the tail of the abandoned copy
    last = 0        # highest part index skipped (or damaged) since then
    while ((r = getline line) > 0) {
        if (substr(line, length(line)) == "\r")
            line = substr(line, 1, length(line) - 1)
        if (line == RETRY) {  # the host got a damaged marker: print ours again
            say(marker)
            continue
        }
        if (substr(line, 1, length(REPLY)) != REPLY) {
            if (index(line, tok " "))  # ours, with its prefix damaged
                damaged(0)
            continue
        }
        # TOKEN I/N CRC CHUNK
        rest = substr(line, length(REPLY) + 1)
        ok = 1
        p = index(rest, " ")
        if (!p) ok = 0
        t = substr(rest, 1, p - 1)
        rest = substr(rest, p + 1)
        p = index(rest, " ")
        if (!p) ok = 0
        part = substr(rest, 1, p - 1)
        rest = substr(rest, p + 1)
        p = index(rest, " ")
        if (p) {
            crc = substr(rest, 1, p - 1)
            chunk = substr(rest, p + 1)
        } else {
            crc = rest
            chunk = ""
        }
        if (ok)
            ok = length(part) <= 13 && part ~ "^[0-9]+/[0-9]+$" && crc == adler(t " " part " " chunk)
        if (!ok) {  # a damaged reply line: maybe ours, its token hit
            damaged(0)
            continue
        }
        if (t != tok)
            continue
        p = index(part, "/")
        i = substr(part, 1, p - 1) + 0
        n = substr(part, p + 1) + 0
        if (i < 1 || i > n) {
            damaged(0)
        } else if (i == 1) {  # a copy starts: always take it
            body = chunk
            total = n
            expect = 2
            resync = 0
        } else if (resync && expect == 1 && i > last) {
            last = i  # still the tail of the copy we gave up on
            continue
        } else if (i != expect || n != total) {
            damaged(i)
            continue
        } else {
            body = body chunk
            expect++
        }
        if (total && expect > total) {
            say(done)  # the host stops retyping the reply
            return finish(body)
        }
    }
    if (r < 0)
        return complain("cannot read the console")
    return complain("console closed before the reply arrived")
}

function damaged(i) {
    body = ""
    expect = 1
    total = 0
    resync = 1
    last = i
    say(resend)
}

# The body: "ok [ITEM ...]" or "nack REASON" (docs/PROTOCOL.md 2.2).
function finish(body,    p, status, rest, text) {
    p = index(body, " ")
    if (p) {
        status = substr(body, 1, p - 1)
        rest = substr(body, p + 1)
    } else {
        status = body
        rest = ""
    }
    if (status == "nack") {
        text = decode(rest)
        return complain(bad ? rest : text)
    }
    if (status != "ok")
        return complain("unexpected reply from the host: " status)
    if (op == "WAIT" || op == "WAIT_ALL")
        return save_cache(rest)
    if (op == "GROUP") {
        text = decode(rest)
        if (bad)
            return complain("malformed group file in the reply")
        printf "%s", text > file
        close(file)
    }
    return 0
}

# dev:key=VALUE items -> FILE (LAVA's device:key=value lines, raw bytes) and
# FILE.enc (the same pairs percent-encoded, byte-exact), both replaced.
function save_cache(rest,    n, i, item, p, q, dev, key, val, raw, coded, encfile) {
    n = split(rest, items, " ")
    for (i = 1; i <= n; i++) {  # check everything before touching the files
        item = items[i]
        p = index(item, ":")
        q = index(item, "=")
        dev = substr(item, 1, p - 1)
        key = substr(item, p + 1, q - p - 1)
        if (p < 2 || q < p + 2 || length(dev) > 64 || length(key) > 64 ||
            dev !~ /^[A-Za-z0-9_.-]+$/ || key !~ /^[A-Za-z0-9_]+$/)
            return complain("malformed item in the reply: " item)
        val = decode(substr(item, q + 1))
        if (bad)
            return complain("malformed value in the reply: " item)
        raw[i] = dev ":" key "=" val
        coded[i] = item
    }
    encfile = file ".enc"
    printf "" > file
    printf "" > encfile
    for (i = 1; i <= n; i++) {
        printf "%s\n", raw[i] > file
        printf "%s\n", coded[i] > encfile
    }
    close(file)
    close(encfile)
    return 0
}
