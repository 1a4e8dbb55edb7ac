// Layout checks run inside a page that headless Chromium has laid out (tests/test_browser.py).
// Returns a list of problems, each a sentence naming the element and the text; [] when the page
// is readable: no text overflows or is clipped by its box, the page never scrolls sideways (wide
// content scrolls inside its own box), and every SVG label lies inside its picture, inside or
// clear of every box (never across an edge), and clear of every other label and every line.
() => {
  const TOL = 1;  // px: sub-pixel rounding
  const problems = [];
  const root = document.documentElement;
  const isSvgDocument = root instanceof SVGElement;

  const name = (el) => {
    const parts = [];
    for (let e = el; e && e.nodeType === 1 && parts.length < 4; e = e.parentElement) {
      const tag = e.tagName.toLowerCase();
      const index = e.parentElement ? Array.prototype.indexOf.call(e.parentElement.children, e) : 0;
      parts.unshift(`${tag}[${index}]`);
    }
    return parts.join(">");
  };
  const snippet = (text) => JSON.stringify(text.trim().slice(0, 60));
  const box = (r) => `(${r.left.toFixed(0)},${r.top.toFixed(0)} ${r.width.toFixed(0)}×${r.height.toFixed(0)})`;
  const inside = (a, b) => a.left >= b.left - TOL && a.right <= b.right + TOL && a.top >= b.top - TOL
      && a.bottom <= b.bottom + TOL;
  const apart = (a, b) => a.right <= b.left + TOL || b.right <= a.left + TOL || a.bottom <= b.top + TOL
      || b.bottom <= a.top + TOL;
  const seen = new Set();
  const report = (key, message) => {
    if (!seen.has(key) && problems.length < 200) {
      seen.add(key);
      problems.push(message);
    }
  };

  // the page: never wider than the window (wide tables and pictures scroll in their own box)
  if (!isSvgDocument && root.scrollWidth > root.clientWidth + TOL) {
    report("page", `the page is ${root.scrollWidth}px wide in a ${root.clientWidth}px window`);
  }

  // an ancestor clips what runs out of it; a scroll container shows all it scrolls over
  const clipping = (el) => {
    const style = getComputedStyle(el);
    return style.overflowX !== "visible" || style.overflowY !== "visible";
  };
  const reach = (el) => {  // what an ancestor shows: its box, or for a scroll container all it scrolls over
    const r = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    const scrolls = ["auto", "scroll"].includes(style.overflowX) || ["auto", "scroll"].includes(style.overflowY);
    if (!scrolls) return r;
    const left = r.left - el.scrollLeft, top = r.top - el.scrollTop;
    return {left, top, right: left + Math.max(el.scrollWidth, r.width), bottom: top + Math.max(el.scrollHeight, r.height)};
  };
  // HTML boxes: their content fits, unless they are scroll containers (which scroll); the box itself (a
  // picture, a table) on the page and not cut off by an ancestor that clips
  const html = isSvgDocument ? [] : document.body.querySelectorAll("*");
  for (const el of html) {
    if (el.parentElement.closest("svg")) continue;  // inside a picture: the label checks below
    const style = getComputedStyle(el);
    if (style.display === "none" || style.display === "contents") continue;
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.height > 0) {
      if (r.left + window.scrollX < -TOL || r.top + window.scrollY < -TOL) {
        report(el, `${name(el)} ${snippet(el.textContent)}: box at ${box(r)}, off the page's top or left`);
      }
      for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
        if (clipping(a) && !inside(r, reach(a))) {
          report(el, `${name(el)} ${snippet(el.textContent)}: box at ${box(r)} clipped by ${name(a)} `
                 + `${box(a.getBoundingClientRect())}`);
          break;
        }
      }
    }
    if (style.display === "inline") continue;  // no box of its own to overflow
    const scrollsX = style.overflowX === "auto" || style.overflowX === "scroll";
    const scrollsY = style.overflowY === "auto" || style.overflowY === "scroll";
    if (!scrollsX && el.scrollWidth > el.clientWidth + TOL && el.clientWidth > 0) {
      report(el, `${name(el)} ${snippet(el.textContent)}: content ${el.scrollWidth}px wide in a box `
             + `${el.clientWidth}px wide (overflow-x: ${style.overflowX})`);
    }
    if (!scrollsY && el.scrollHeight > el.clientHeight + TOL && el.clientHeight > 0) {
      report(el, `${name(el)} ${snippet(el.textContent)}: content ${el.scrollHeight}px high in a box `
             + `${el.clientHeight}px high (overflow-y: ${style.overflowY})`);
    }
  }

  // HTML text: each line's rectangle inside the box that holds it and inside every ancestor that clips,
  // never at negative page coordinates
  if (!isSvgDocument) {
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const scrollX = window.scrollX, scrollY = window.scrollY;
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const parent = node.parentElement;
      if (!node.textContent.trim() || !parent || parent.closest("svg, style, script, title")) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      let holder = parent;
      while (holder && getComputedStyle(holder).display === "inline") holder = holder.parentElement;
      const ancestors = [];
      for (let e = parent; e && e !== document.body; e = e.parentElement) if (clipping(e)) ancestors.push(e);
      for (const r of range.getClientRects()) {
        if (r.width === 0 && r.height === 0) continue;
        if (r.left + scrollX < -TOL || r.top + scrollY < -TOL) {
          report(node, `${name(parent)} ${snippet(node.textContent)}: text at ${box(r)}, off the page's top or left`);
        }
        if (holder && !inside(r, holder.getBoundingClientRect())) {
          report(node, `${name(parent)} ${snippet(node.textContent)}: text at ${box(r)} outside its box `
                 + `${name(holder)} ${box(holder.getBoundingClientRect())}`);
        }
        for (const a of ancestors) {
          if (!inside(r, reach(a))) {
            report(node, `${name(parent)} ${snippet(node.textContent)}: text at ${box(r)} clipped by `
                   + `${name(a)} ${box(a.getBoundingClientRect())}`);
          }
        }
      }
    }
  }

  // SVG pictures: every label inside the picture, never across a box's edge, never over another label
  for (const svg of document.querySelectorAll("svg")) {
    if (svg.parentElement && svg.parentElement.closest("svg")) continue;  // nested: checked with its picture
    const frame = svg.getBoundingClientRect();
    const texts = [];
    for (const t of svg.querySelectorAll("text")) {
      if (t.closest("defs, clipPath, mask, marker, symbol")) continue;
      const r = t.getBoundingClientRect();
      if (!t.textContent.trim()) continue;
      if (r.width === 0 || r.height === 0) {
        report(t, `${name(t)} ${snippet(t.textContent)}: label has no size (not laid out, or no font)`);
        continue;
      }
      texts.push([t, r, texts.length]);
      if (!inside(r, frame)) {
        report(t, `${name(t)} ${snippet(t.textContent)}: label at ${box(r)} clipped by its picture ${box(frame)}`);
      }
    }
    const boxes = [];
    for (const shape of svg.querySelectorAll("rect, circle, ellipse")) {
      if (shape.closest("defs, clipPath, mask, marker, symbol, pattern")) continue;
      if (shape.getAttribute("width") === "100%") continue;  // the background
      const r = shape.getBoundingClientRect();
      if (r.width > 0 && r.height > 0) boxes.push([shape, r, getComputedStyle(shape).fill !== "none"]);
    }
    // an index of rectangles by 100 px bands of height, so that big diagrams (thousands of boxes) stay quick
    const index = (entries) => {
      const bands = new Map();
      entries.forEach((entry) => {
        for (let k = Math.floor(entry[1].top / 100); k <= Math.floor(entry[1].bottom / 100); k++) {
          if (!bands.has(k)) bands.set(k, []);
          bands.get(k).push(entry);
        }
      });
      return (top, bottom) => {
        const found = new Set();
        for (let k = Math.floor(top / 100); k <= Math.floor(bottom / 100); k++) {
          for (const entry of bands.get(k) || []) found.add(entry);
        }
        return found;
      };
    };
    const boxesNear = index(boxes), textsNear = index(texts);
    for (const [t, r] of texts) {
      for (const [shape, b] of boxesNear(r.top, r.bottom)) {
        if (!inside(r, b) && !apart(r, b)) {
          report(t, `${name(t)} ${snippet(t.textContent)}: label at ${box(r)} crosses the edge of `
                 + `${name(shape)} ${box(b)}`);
          break;
        }
      }
    }
    // labels against labels
    for (const [t, r, m] of texts) {
      for (const [u, s, n] of textsNear(r.top, r.bottom)) {
        if (n <= m || apart(r, s) || t.contains(u) || u.contains(t)) continue;
        report(`${m}:${n}`, `${name(t)} ${snippet(t.textContent)} at ${box(r)} overlaps ${name(u)} `
               + `${snippet(u.textContent)} at ${box(s)}`);
      }
    }
    // lines (arrows): never through a filled box or a label; a line ends at a box's edge, not inside it
    const crosses = (p, q, r) => {  // the segment p→q meets the inside of r (Liang–Barsky)
      const left = r.left + TOL, right = r.right - TOL, top = r.top + TOL, bottom = r.bottom - TOL;
      if (left >= right || top >= bottom) return false;
      const dx = q[0] - p[0], dy = q[1] - p[1];
      let t0 = 0, t1 = 1;
      for (const [a, b] of [[-dx, p[0] - left], [dx, right - p[0]], [-dy, p[1] - top], [dy, bottom - p[1]]]) {
        if (a === 0) {
          if (b <= 0) return false;
        } else if (a < 0) {
          t0 = Math.max(t0, b / a);
        } else {
          t1 = Math.min(t1, b / a);
        }
        if (t0 >= t1) return false;
      }
      return true;
    };
    for (const line of svg.querySelectorAll("line, polyline")) {
      if (line.closest("defs, clipPath, mask, marker, symbol, pattern")) continue;
      const m = line.getScreenCTM();
      const points = (line.tagName === "line"
        ? [[line.x1.baseVal.value, line.y1.baseVal.value], [line.x2.baseVal.value, line.y2.baseVal.value]]
        : Array.from(line.points, (pt) => [pt.x, pt.y])).map(([x, y]) => {
        const pt = new DOMPoint(x, y).matrixTransform(m);
        return [pt.x, pt.y];
      });
      for (let i = 0; i + 1 < points.length; i++) {
        const [p, q] = [points[i], points[i + 1]];
        const top = Math.min(p[1], q[1]), bottom = Math.max(p[1], q[1]);
        const near = [...boxesNear(top, bottom)].filter((entry) => entry[2]).concat([...textsNear(top, bottom)]);
        const hit = near.find(([, b]) => crosses(p, q, b));
        if (hit) {
          const what = hit[0].tagName === "text" ? `label ${snippet(hit[0].textContent)}` : "box";
          report(line, `${name(line)} from (${p[0].toFixed(0)},${p[1].toFixed(0)}) to (${q[0].toFixed(0)},`
                 + `${q[1].toFixed(0)}) runs through the ${what} ${name(hit[0])} ${box(hit[1])}`);
          break;
        }
      }
    }
  }
  return problems;
}
