# Finds the graphs in a screenshot of the dev page (PNG, decoded with the
# standard library): the plot areas (#fafafa with #e4e4e4 grid lines, as
# svg.rs draws them, and the "No data" boxes) and, for each, how many
# coloured pixels (a line, a point, a bar) are in it. Prints one line per
# area: x0 y0 x1 y1 coloured_pixels.
import sys, zlib, struct
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
pos, idat, ihdr = 8, b'', None
while pos < len(data):
    n, kind = struct.unpack('>I4s', data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b'IHDR': ihdr = struct.unpack('>IIBBBBB', body)
    if kind == b'IDAT': idat += body
    pos += 12 + n
w, h, depth, ctype = ihdr[:4]
assert depth == 8 and ctype in (2, 6), ihdr
bpp = 3 if ctype == 2 else 4
raw, stride, prev, rows = zlib.decompress(idat), w * bpp, bytearray(w * bpp), []
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(bytes(line))
    prev = line
def px(x, y):
    r = rows[y]; i = x * bpp
    return r[i], r[i + 1], r[i + 2]
# Plot backgrounds (#fafafa) and their grid lines (#e4e4e4), on a 2 px grid.
def plotbg(p):
    return max(p) - min(p) <= 2 and (abs(p[0] - 250) <= 2 or abs(p[0] - 228) <= 2)
gw, gh = w // 2, h // 2
mask = [[plotbg(px(2 * gx, 2 * gy)) for gx in range(gw)] for gy in range(gh)]
seen = [[False] * gw for _ in range(gh)]
boxes = []
for gy in range(gh):
    for gx in range(gw):
        if not mask[gy][gx] or seen[gy][gx]: continue
        stack, n, box = [(gx, gy)], 0, [gx, gy, gx, gy]
        seen[gy][gx] = True
        while stack:
            cx, cy = stack.pop(); n += 1
            box = [min(box[0], cx), min(box[1], cy), max(box[2], cx), max(box[3], cy)]
            for nx, ny in ((cx + 1, cy), (cx - 1, cy), (cx, cy + 1), (cx, cy - 1)):
                if 0 <= nx < gw and 0 <= ny < gh and mask[ny][nx] and not seen[ny][nx]:
                    seen[ny][nx] = True; stack.append((nx, ny))
        if n >= 200: boxes.append([2 * box[0], 2 * box[1], 2 * box[2] + 1, 2 * box[3] + 1])
# A drawn line can cut a plot in pieces: merge the boxes that touch.
merged = True
while merged:
    merged = False
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            a, b = boxes[i], boxes[j]
            if a[0] <= b[2] + 4 and b[0] <= a[2] + 4 and a[1] <= b[3] + 4 and b[1] <= a[3] + 4:
                boxes[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                del boxes[j]; merged = True; break
        if merged: break
for x0, y0, x1, y1 in sorted(boxes, key=lambda b: (b[1], b[0])):
    if x1 - x0 < 150 or y1 - y0 < 50: continue
    # Ink: coloured pixels inside the plot (or on its frame: a point at now).
    ink = 0
    for y in range(max(0, y0 - 4), min(h, y1 + 5)):
        for x in range(max(0, x0 - 4), min(w, x1 + 5)):
            p = px(x, y)
            ink += max(p) - min(p) >= 60
    print(x0, y0, x1, y1, ink)
