#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from ../shared/fixtures: whole responses for `head`, chunked
# bodies for `chunked`, decoded bodies for `frame_split`. Idempotent; corpus/ is not committed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fixtures=${FIXTURES:-$here/../../shared/fixtures/docker20-cgv1}
[ -d "$fixtures" ] || { echo "seed-corpora: no fixtures at $fixtures" >&2; exit 1; }
python3 - "$fixtures" "$here/corpus" <<'PY'
import os, sys
src, out = sys.argv[1], sys.argv[2]
for t in ("head", "chunked", "frame_split", "frame_decode", "connection"):
    os.makedirs(os.path.join(out, t), exist_ok=True)
def put(target, name, data):
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data)
for name in sorted(os.listdir(src)):
    if not name.endswith(".http"):
        continue
    raw = open(os.path.join(src, name), "rb").read()
    put("head", name, raw)
    # connection: no split points (byte 0 = 0), and the same response cut in three.
    put("connection", name, b"\x00" + raw)
    third = len(raw) // 3
    put("connection", name + ".cut3", b"\x02" + (third).to_bytes(2, "little") + (2 * third).to_bytes(2, "little") + raw)
    head, _, body = raw.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" not in head.lower():
        put("frame_split", name, b"\x40" + body)
        continue
    # The first byte of a chunked/frame_split input is the feeding step.
    put("chunked", name, b"\x07" + body)
    payload, rest = b"", body
    while b"\r\n" in rest:
        line, _, rest = rest.partition(b"\r\n")
        size = int(line.split(b";")[0], 16)
        if size == 0 or len(rest) < size + 2:
            break
        payload, rest = payload + rest[:size], rest[size + 2:]
    put("frame_split", name, b"\x40" + payload)
    for i, line in enumerate(l for l in payload.split(b"\n") if l.strip()):
        put("frame_decode", "%s-%d" % (name, i), line)
frames = os.path.join(src, "..", "frames")
for name in sorted(os.listdir(frames)):
    put("frame_decode", name, open(os.path.join(frames, name), "rb").read())
PY
echo "seeded $(find "$here/corpus" -type f | wc -l) corpus files"
