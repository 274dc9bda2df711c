/* graphexec's graph viewer: draws the JSON in #gx-data (written by graphexec.viz.viewer) with
   dagre's layered layout.  Name scopes fold into one box each (the first view folds them until
   at most LIMIT boxes show, so a big graph opens fast); the filmstrip steps through the
   optimizer's passes.  window.gxViewer is the handle tests and users script it with. */
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("gx-data").textContent);
  // NOTE: Maps, not the objects: a node may be called "constructor" or "__proto__"
  const PROV = new Map(Object.entries(D.provenance));
  const NUM = new Map(Object.entries(D.numbers));
  const SVG = "http://www.w3.org/2000/svg";
  const OPEN_ALL = 150;     // a graph of at most this many nodes opens with every scope open;
                            // no view lays out more boxes than this (scopes fold back)
  const LIMIT = 40;         // else the first view (and an unfolded scope) aims at this many boxes
  const LABEL_EDGES = 250;  // edges are labelled with their shapes up to this many
  const S = {
    frame: D.initial, collapsed: new Set(), selected: null, query: "", hits: [], hit: -1,
    numbers: false, rankdir: D.rankdir, view: { x: 0, y: 0, k: 1 },
    layoutMs: 0, drawMs: 0, shown: { nodes: 0, groups: 0, edges: 0, members: 0 },
    errors: [],
  };

  // -- DOM --------------------------------------------------------------------------------
  function h(tag, attrs, parent, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function s(tag, attrs, parent) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  const app = document.getElementById("gx-app");
  const bar = h("div", { id: "gx-bar" }, app);
  h("span", { class: "title" }, bar, D.title);
  const searchBox = h("input", { type: "search", id: "gx-search",
                                 placeholder: "search name or op (Enter: next)" }, bar);
  const buttons = {};
  for (const [id, text] of [["fit", "fit"], ["expand", "expand all"],
                            ["collapse", "collapse all"], ["dir", "TB ⇄ LR"]]) {
    buttons[id] = h("button", { id: "gx-" + id }, bar, text);
  }
  const numbersLabel = h("label", {}, bar);
  const numbersBox = h("input", { type: "checkbox", id: "gx-numbers" }, numbersLabel);
  numbersLabel.appendChild(document.createTextNode(" numbers"));
  if (!Object.keys(D.numbers).length) numbersLabel.style.display = "none";
  const status = h("span", { id: "gx-status" }, bar);
  const canvas = h("div", { id: "gx-canvas" }, app);
  const svg = s("svg", { id: "gx-svg" }, canvas);
  const defs = s("defs", {}, svg);
  for (const [id, colour] of [["gray", "#777"], ["red", "#e03131"], ["blue", "#2b6cb0"],
                              ["dark", "#c53030"]]) {
    const m = s("marker", { id: "gx-arrow-" + id, viewBox: "0 0 10 10", refX: 9, refY: 5,
                           markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, defs);
    s("path", { d: "M0,0 L10,5 L0,10 z", fill: colour }, m);
  }
  const viewport = s("g", { id: "gx-viewport" }, svg);
  const side = h("div", { id: "gx-side" }, app);
  const film = h("div", { id: "gx-film" }, app);

  // -- scopes and the visible graph ----------------------------------------------------------
  const frameOf = () => D.frames[S.frame];
  const vOf = (f, p) => D.nodes[f.nodes[p]];
  const join = (scope, k) => scope.slice(0, k).join("/");
  function parentPath(path) { const i = path.lastIndexOf("/"); return i < 0 ? "" : path.slice(0, i); }
  function foldOf(v, collapsed) {
    for (let k = 1; k <= v.scope.length; k++) {
      const p = join(v.scope, k);
      if (collapsed.has(p)) return p;
    }
    return null;
  }
  function scopesOf(f) {
    const out = new Set();
    for (let p = 0; p < f.nodes.length; p++) {
      const sc = vOf(f, p).scope;
      for (let k = 1; k <= sc.length; k++) out.add(join(sc, k));
    }
    return out;
  }
  function countVisible(f, collapsed) {
    const keys = new Set();
    for (let p = 0; p < f.nodes.length; p++) {
      const fold = foldOf(vOf(f, p), collapsed);
      keys.add(fold === null ? p : "g:" + fold);
    }
    return keys.size;
  }
  // fold the deepest scopes that bring the count to at most `limit` (the top level at worst)
  function foldTo(f, limit, under) {
    const scopes = [...scopesOf(f)].filter(p => under === null || p.startsWith(under + "/"));
    const depth = p => p.split("/").length;
    const base = under === null ? 0 : depth(under);
    const maxDepth = Math.max(base, ...scopes.map(depth));
    const at = d => new Set([...S.collapsed, ...scopes.filter(p => depth(p) === d)]);
    let best = null;  // folding deeper scopes shows more boxes: the deepest fold that fits
    for (let d = base + 1; d <= maxDepth; d++) {
      const trial = at(d);
      if (countVisible(f, trial) > limit) break;
      best = trial;
    }
    return best || at(base + 1);
  }
  const isRemoved = (f, p) => f.changes[p] !== undefined && f.changes[p][0] === "removed";

  function visible() {
    const f = frameOf();
    const items = new Map();
    const key = new Array(f.nodes.length);
    for (let p = 0; p < f.nodes.length; p++) {
      const v = vOf(f, p);
      const fold = foldOf(v, S.collapsed);
      if (fold === null) {
        key[p] = "n" + p;
        items.set(key[p], { type: "node", pos: p, v, parent: v.scope.join("/") });
      } else {
        key[p] = "g:" + fold;
        let it = items.get(key[p]);
        if (!it) {
          it = { type: "group", path: fold, count: 0, changed: 0, members: [], parent: parentPath(fold) };
          items.set(key[p], it);
        }
        it.count++;
        it.members.push(p);
        if (f.changes[p]) it.changed++;
      }
    }
    const edges = new Map();
    for (const [a, b, label, kind] of f.edges) {
      const ka = key[a], kb = key[b];
      if (ka === kb) continue;
      const id = ka + ">" + kb + ">" + kind;
      let e = edges.get(id);
      if (!e) {
        e = { from: ka, to: kb, kind, labels: [], gone: kind === "ghost" || isRemoved(f, a) || isRemoved(f, b) };
        edges.set(id, e);
      }
      if (label && e.labels.indexOf(label) < 0) e.labels.push(label);
    }
    const clusters = new Set();
    for (const it of items.values()) {
      const parts = it.parent ? it.parent.split("/") : [];
      for (let k = 1; k <= parts.length; k++) clusters.add(join(parts, k));
    }
    return { f, items, edges, clusters, key };
  }

  // -- layout ----------------------------------------------------------------------------
  function fmtTime(t) { return t >= 1 ? t.toFixed(2) + " s" : t >= 1e-3 ? (t * 1e3).toFixed(2) + " ms" : (t * 1e6).toFixed(1) + " µs"; }
  function fmtBytes(b) { const u = ["B", "kB", "MB", "GB"]; let i = 0; while (b >= 1024 && i < 3) { b /= 1024; i++; } return (i ? b.toFixed(1) : b) + " " + u[i]; }
  // NOTE: numbers were measured on the graph that runs: the last frame (a node of the same name
  // in an earlier frame may be another op, before fusion)
  function numbersShown() { return S.numbers && S.frame === D.frames.length - 1; }
  function numbersLine(name) {
    const n = NUM.get(name);
    if (!numbersShown() || !n) return null;
    return [n.time !== undefined ? fmtTime(n.time) : null, n.bytes !== undefined ? fmtBytes(n.bytes) : null].filter(Boolean).join(" · ");
  }
  function linesOf(it) {
    if (it.type === "group") {
      const last = it.path.slice(it.path.lastIndexOf("/") + 1);
      return [last + " ▸", it.count + " nodes" + (it.changed ? ", " + it.changed + " changed" : "")];
    }
    const v = it.v;
    const lines = [v.short];
    if (v.short !== v.op && !v.variable) lines.push(v.op);
    if (v.members) {
      const shown = v.members.slice(0, 8);
      lines.push(...shown.map(m => "· " + m));
      if (v.members.length > 8) lines.push("+" + (v.members.length - 8) + " more");
    }
    const num = numbersLine(v.name);
    if (num) lines.push(num);
    return lines;
  }
  function layout(vis) {
    const g = new dagre.graphlib.Graph({ compound: true, multigraph: true });
    g.setGraph({ rankdir: S.rankdir, nodesep: 18, ranksep: 32, edgesep: 8, marginx: 24, marginy: 24 });
    g.setDefaultEdgeLabel(() => ({}));
    for (const c of vis.clusters) {
      g.setNode("c:" + c, { label: c.slice(c.lastIndexOf("/") + 1), paddingTop: 20 });
      const up = parentPath(c);
      if (up) g.setParent("c:" + c, "c:" + up);
    }
    for (const [k, it] of vis.items) {
      const lines = linesOf(it);
      it.lines = lines;
      const w = Math.max(...lines.map(l => l.length)) * 6.3 + 20;
      g.setNode(k, { width: Math.max(w, 40), height: lines.length * 13 + 12 });
      if (it.parent) g.setParent(k, "c:" + it.parent);
    }
    for (const [id, e] of vis.edges) {
      // NOTE: writes into variables and edges a pass took away do not rank nodes (a variable
      // sits by its reads, not below the update): they are drawn after the layout
      if (e.kind === "write" || e.kind === "ghost") continue;
      g.setEdge(e.from, e.to, { weight: e.kind === "data" ? 2 : 1, minlen: 1 }, id);
    }
    const t0 = performance.now();
    dagre.layout(g, { debugTiming: !!window.GX_DEBUG_TIMING });
    S.layoutMs = performance.now() - t0;
    return g;
  }

  // -- drawing -----------------------------------------------------------------------------
  function clip(n, to) {  // where the line from n's centre towards `to` leaves its box
    const dx = to.x - n.x, dy = to.y - n.y;
    if (!dx && !dy) return { x: n.x, y: n.y };
    const t = Math.min(dx ? (n.width / 2) / Math.abs(dx) : Infinity, dy ? (n.height / 2) / Math.abs(dy) : Infinity);
    return { x: n.x + dx * t, y: n.y + dy * t };
  }
  function straight(a, b) {
    const mid = { x: (a.x + b.x) / 2 + (b.y - a.y) * 0.15, y: (a.y + b.y) / 2 - (b.x - a.x) * 0.15 };
    return [clip(a, mid), mid, clip(b, mid)];
  }
  let current = null;  // {vis, g}
  function markOf(f, p) { return f.changes[p] ? D.marks[f.changes[p][0]] : null; }
  function draw() {
    const t0 = performance.now();
    const fr = frameOf();
    let note = "";
    const boxes = countVisible(fr, S.collapsed);
    if (boxes > OPEN_ALL) {  // too many boxes to lay out at once: fold scopes back
      S.collapsed = foldTo(fr, LIMIT, null);
      note = ` · ${boxes} boxes is more than one view lays out (${OPEN_ALL}): scopes folded back`;
    }
    const vis = visible();
    let g;
    try {
      g = layout(vis);
    } catch (err) {
      status.textContent = `layout failed (${err.message}): fold some scopes and try again`;
      S.errors.push(String(err.message));
      return;
    }
    current = { vis, g };
    viewport.textContent = "";
    const f = vis.f;
    const clusterIds = g.nodes().filter(n => n.startsWith("c:"))
      .sort((a, b) => a.split("/").length - b.split("/").length);
    for (const id of clusterIds) {
      const n = g.node(id);
      const path = id.slice(2);
      const cg = s("g", { class: "gx-cluster", "data-scope": path }, viewport);
      s("rect", { x: n.x - n.width / 2, y: n.y - n.height / 2, width: n.width, height: n.height, rx: 8 }, cg);
      const t = s("text", { x: n.x - n.width / 2 + 8, y: n.y - n.height / 2 + 13, class: "gx-cluster-label" }, cg);
      t.textContent = "▾ " + n.label;
      const tip = s("title", {}, t);
      tip.textContent = "fold " + path;
      t.style.pointerEvents = "all";
      t.addEventListener("click", ev => { ev.stopPropagation(); if (!dragged) collapse(path); });
    }
    const labelled = vis.edges.size <= LABEL_EDGES;
    const routed = g.edges().map(e => [vis.edges.get(e.name), g.edge(e).points]);
    for (const meta of vis.edges.values()) {
      if (meta.kind === "write" || meta.kind === "ghost") routed.push([meta, straight(g.node(meta.from), g.node(meta.to))]);
    }
    for (const [meta, pts] of routed) {
      const cls = "gx-edge " + meta.kind + (meta.gone ? " gone" : "");
      const eg = s("g", { class: cls }, viewport);
      const d = "M" + pts.map(p => p.x.toFixed(1) + "," + p.y.toFixed(1)).join(" L");
      const colour = meta.gone ? "red" : meta.kind === "read" ? "blue" : meta.kind === "write" ? "dark" : "gray";
      s("path", { d, "marker-end": "url(#gx-arrow-" + colour + ")" }, eg);
      if (meta.labels.length) {
        s("title", {}, eg).textContent = meta.labels.join(", ");
        if (labelled && meta.kind === "data") {
          const mid = pts[Math.floor(pts.length / 2)];
          const t = s("text", { x: mid.x + 4, y: mid.y - 2 }, eg);
          t.textContent = meta.labels[0] + (meta.labels.length > 1 ? " …" : "");
        }
      }
    }
    let nodes = 0, groups = 0, members = 0;
    let maxTime = 0;
    for (const n of NUM.values()) maxTime = Math.max(maxTime, n.time || 0);
    for (const [k, it] of vis.items) {
      const n = g.node(k);
      const x = n.x - n.width / 2, y = n.y - n.height / 2;
      if (it.type === "group") {
        groups++;
        members += it.count;
        const gg = s("g", { class: "gx-group", "data-scope": it.path, transform: `translate(${x},${y})` }, viewport);
        s("rect", { x: 4, y: 4, width: n.width, height: n.height, rx: 5, fill: "#dcdcdc" }, gg);
        const body = s("rect", { class: "body", width: n.width, height: n.height, rx: 5, fill: "#eeeeee" }, gg);
        if (it.changed) { body.setAttribute("stroke", D.marks.rewritten[0]); body.setAttribute("stroke-width", 2.5); }
        it.lines.forEach((l, i) => { s("text", { x: 9, y: 16 + i * 13 }, gg).textContent = l; });
        s("title", {}, gg).textContent = it.path + ": " + it.count + " nodes (click to unfold)";
        gg.addEventListener("click", ev => { ev.stopPropagation(); if (!dragged) expand(it.path); });
        it.el = gg;
        continue;
      }
      nodes++;
      const v = it.v;
      const ng = s("g", { class: "gx-node " + v.cls, "data-name": v.name, "data-pos": it.pos,
                          transform: `translate(${x},${y})` }, viewport);
      if (v.members) s("rect", { class: "gx-fused-box", x: -5, y: -5, width: n.width + 10, height: n.height + 10, rx: 8 }, ng);
      const round = v.cls === "placeholder" ? n.height / 2 : v.variable ? 10 : 5;
      const body = s("rect", { class: "body", width: n.width, height: n.height, rx: round, fill: D.classes[v.cls][0] }, ng);
      const mark = markOf(f, it.pos);
      if (mark) {
        body.setAttribute("stroke", mark[0]);
        body.setAttribute("stroke-width", 2.5);
        if (mark[1]) body.setAttribute("fill", mark[1]);
        if (mark[2] === "dashed") body.setAttribute("stroke-dasharray", "5 3");
      }
      const num = NUM.get(v.name);
      if (numbersShown() && num && num.time && maxTime > 0) {
        s("rect", { class: "gx-bar-time", x: 0, y: n.height - 3, height: 3,
                    width: n.width * num.time / maxTime }, ng);
      }
      it.lines.forEach((l, i) => { s("text", { x: 10, y: 17 + i * 13 }, ng).textContent = l; });
      const change = f.changes[it.pos];
      s("title", {}, ng).textContent = [v.name, v.op + " " + v.attrs, v.specs.join(" "), v.loc,
                                        change ? change[0] + ": " + change[1] : ""].filter(Boolean).join("\n");
      ng.addEventListener("click", ev => { ev.stopPropagation(); if (!dragged) select(it.pos); });
      it.el = ng;
    }
    S.shown = { nodes, groups, edges: vis.edges.size, members };
    applySearch();
    if (S.selected !== null) markSelected();
    S.drawMs = performance.now() - t0;
    status.textContent = `${nodes} nodes and ${groups} folded scopes shown (${f.nodes.length} in all) · ` +
      `layout ${S.layoutMs.toFixed(0)} ms` + note;
    document.body.setAttribute("data-drawn", String((+document.body.getAttribute("data-drawn") || 0) + 1));
  }

  // -- view: zoom and pan -------------------------------------------------------------------------
  function apply() { viewport.setAttribute("transform", `translate(${S.view.x},${S.view.y}) scale(${S.view.k})`); }
  function fit() {
    if (!current) return;
    const b = viewport.getBBox();
    const cw = canvas.clientWidth || 800, ch = canvas.clientHeight || 600;
    const k = Math.min((cw - 20) / (b.width || 1), (ch - 20) / (b.height || 1), 1.5);
    S.view = { k, x: (cw - b.width * k) / 2 - b.x * k, y: Math.max(10 - b.y * k, (ch - b.height * k) / 2 - b.y * k) };
    apply();
  }
  function center(key) {
    const n = current && current.g.node(key);
    if (!n) return;
    const cw = canvas.clientWidth || 800, ch = canvas.clientHeight || 600;
    S.view.k = Math.max(S.view.k, 0.8);
    S.view.x = cw / 2 - n.x * S.view.k;
    S.view.y = ch / 2 - n.y * S.view.k;
    apply();
  }
  canvas.addEventListener("wheel", ev => {
    ev.preventDefault();
    const r = canvas.getBoundingClientRect();
    const mx = ev.clientX - r.left, my = ev.clientY - r.top;
    const factor = Math.exp(-ev.deltaY * 0.0015);
    S.view.x = mx - (mx - S.view.x) * factor;
    S.view.y = my - (my - S.view.y) * factor;
    S.view.k *= factor;
    apply();
  }, { passive: false });
  let drag = null;
  let dragged = false;  // the last press moved the view: its click is not a click
  canvas.addEventListener("pointerdown", ev => {
    drag = { x: ev.clientX, y: ev.clientY, vx: S.view.x, vy: S.view.y };
    dragged = false;
    canvas.classList.add("dragging");
  });
  window.addEventListener("pointermove", ev => {
    if (!drag) return;
    if (Math.abs(ev.clientX - drag.x) + Math.abs(ev.clientY - drag.y) > 4) dragged = true;
    S.view.x = drag.vx + ev.clientX - drag.x;
    S.view.y = drag.vy + ev.clientY - drag.y;
    apply();
  });
  window.addEventListener("pointerup", () => { drag = null; canvas.classList.remove("dragging"); });

  // -- folding -----------------------------------------------------------------------------
  function expand(path) {
    S.collapsed.delete(path);
    for (const p of [...S.collapsed]) if (path.startsWith(p + "/")) S.collapsed.delete(p);
    const f = frameOf();
    if (countVisible(f, S.collapsed) > OPEN_ALL) S.collapsed = foldTo(f, 2 * LIMIT, path);
    draw();
    center("c:" + path) ;
  }
  function collapse(path) { S.collapsed.add(path); draw(); }
  function expandAll() { S.collapsed = new Set(); draw(); fit(); }
  function collapseAll() {
    const f = frameOf();
    S.collapsed = new Set([...scopesOf(f)].filter(p => p.indexOf("/") < 0));
    draw(); fit();
  }

  // -- side panel --------------------------------------------------------------------------
  function table(rows, parent) {
    const t = h("table", {}, parent);
    for (const [k, v] of rows) {
      if (v === null || v === undefined || v === "") continue;
      const tr = h("tr", {}, t);
      h("td", {}, tr, k);
      h("td", {}, tr, String(v));
    }
    return t;
  }
  function changeLine(parent, kind, text, onclick) {
    const d = h("div", { class: "change" }, parent, text);
    d.style.borderLeftColor = D.marks[kind] ? D.marks[kind][0] : "#ccc";
    if (onclick) d.addEventListener("click", onclick);
    return d;
  }
  function showFrame() {
    const f = frameOf();
    side.textContent = "";
    h("h3", {}, side, f.title);
    const byKind = {};
    for (const p in f.changes) (byKind[f.changes[p][0]] = byKind[f.changes[p][0]] || []).push(+p);
    const kinds = Object.keys(byKind);
    if (!kinds.length) h("p", {}, side, S.frame === 0 && D.frames.length > 1 ? "The graph as built, before the optimizer's passes. Step through them below (← →)." : D.frames.length > 1 ? "The optimized graph." : "Click a node for its details; click a folded scope to unfold it.");
    for (const kind of kinds) {
      h("h3", {}, side, `${byKind[kind].length} ${kind}`);
      for (const p of byKind[kind].slice(0, 200)) {
        const c = f.changes[p];
        changeLine(side, kind, `${vOf(f, p).name}: ${c[1]}`, () => reveal(p));
      }
      if (byKind[kind].length > 200) h("p", {}, side, `… and ${byKind[kind].length - 200} more`);
    }
    const legend = h("div", { class: "legend" }, side);
    h("h3", {}, legend, "colours");
    for (const cls in D.classes) {
      const sp = h("span", {}, legend, D.classes[cls][1]);
      sp.style.background = D.classes[cls][0];
    }
    for (const kind in D.marks) {
      const sp = h("span", {}, legend, D.marks[kind][3]);
      sp.style.borderColor = D.marks[kind][0];
      sp.style.borderWidth = "2px";
      if (D.marks[kind][1]) sp.style.background = D.marks[kind][1];
      if (D.marks[kind][2]) sp.style.borderStyle = D.marks[kind][2];
    }
  }
  function markSelected() {
    for (const e of viewport.querySelectorAll(".gx-node.selected")) e.classList.remove("selected");
    const it = current && current.vis.items.get("n" + S.selected);
    if (it && it.el) it.el.classList.add("selected");
  }
  function select(p) {
    checkPos(p, "select");
    const f = frameOf();
    S.selected = p;
    markSelected();
    const v = vOf(f, p);
    side.textContent = "";
    const back = h("button", {}, side, "← this step");
    back.addEventListener("click", () => { S.selected = null; markSelected(); showFrame(); });
    h("h3", { id: "gx-node-name" }, side, v.name);
    const inputs = [], consumers = [];
    for (const [a, b, label, kind] of f.edges) {
      if (b === p && kind !== "ghost") inputs.push(`${vOf(f, a).name}${label ? " : " + label : ""}${kind !== "data" ? " (" + kind + ")" : ""}`);
      if (a === p && kind !== "ghost") consumers.push(vOf(f, b).name + (kind !== "data" ? " (" + kind + ")" : ""));
    }
    const num = S.frame === D.frames.length - 1 ? NUM.get(v.name) : undefined;
    table([["op", v.op], ["class", D.classes[v.cls][1]], ["outputs", v.specs.join(", ")],
           ["inputs", inputs.join("\n")], ["consumers", consumers.join(", ")],
           ["attrs", v.attrs], ["members", v.members ? v.members.join(", ") : null],
           ["line", v.loc], ["id", v.id],
           ["time", num && num.time !== undefined ? fmtTime(num.time) : null],
           ["bytes", num && num.bytes !== undefined ? fmtBytes(num.bytes) : null]], side)
      .querySelectorAll("td").forEach(td => { td.style.whiteSpace = "pre-wrap"; });
    const c = f.changes[p];
    if (c) {
      h("h3", {}, side, "in this step");
      changeLine(side, c[0], `${c[0]}: ${c[1]}${c[2].length ? " ← " + c[2].join(", ") : ""}`);
    }
    const prov = PROV.get(v.name);
    h("h3", {}, side, "provenance");
    if (!prov) h("p", {}, side, "unchanged by every pass");
    else for (const [k, pass, kind, why, origin] of prov) {
      changeLine(side, kind, `step ${k} (${pass.replace(/_/g, " ")}): ${kind}: ${why}${origin.length ? " ← " + origin.join(", ") : ""}`,
                 () => { setFrame(k); const q = D.frames[k].nodes.findIndex(i => D.nodes[i].name === v.name); if (q >= 0) reveal(q); });
    }
  }
  function checkPos(p, where) {
    if (!Number.isInteger(p) || p < 0 || p >= frameOf().nodes.length) {
      throw new RangeError(`${where}: ${p} is not a node of this frame (0..${frameOf().nodes.length - 1})`);
    }
  }
  function reveal(p) {
    checkPos(p, "reveal");
    const f = frameOf();
    const v = vOf(f, p);
    if (foldOf(v, S.collapsed) !== null) {
      // open the scopes on the way to the node and fold every other: a view of its surroundings
      const path = new Set(v.scope.map((_, k) => join(v.scope, k + 1)));
      S.collapsed = new Set([...scopesOf(f)].filter(q => !path.has(q)));
      draw();
    }
    select(p);
    center("n" + p);
  }

  // -- search ------------------------------------------------------------------------------
  function applySearch() {
    const f = frameOf();
    S.hits = [];
    for (const e of viewport.querySelectorAll(".match")) e.classList.remove("match");
    if (!S.query) return;
    for (let p = 0; p < f.nodes.length; p++) {
      const v = vOf(f, p);
      if (v.name.toLowerCase().includes(S.query) || v.op.toLowerCase().includes(S.query)) S.hits.push(p);
    }
    if (!current) return;
    for (const p of S.hits) {
      const it = current.vis.items.get(current.vis.key[p]);
      if (it && it.el) it.el.classList.add("match");
    }
  }
  function search(q) {
    S.query = String(q === undefined || q === null ? "" : q).trim().toLowerCase();
    S.hit = -1;
    applySearch();
    if (!S.query) { showFrame(); return S.hits.length; }
    side.textContent = "";
    h("h3", {}, side, `${S.hits.length} match${S.hits.length === 1 ? "" : "es"} for “${S.query}”`);
    const f = frameOf();
    for (const p of S.hits.slice(0, 200)) {
      const v = vOf(f, p);
      h("div", { class: "hit" }, side, `${v.name} (${v.op})`).addEventListener("click", () => reveal(p));
    }
    return S.hits.length;
  }
  function nextHit() {
    if (!S.hits.length) return;
    S.hit = (S.hit + 1) % S.hits.length;
    reveal(S.hits[S.hit]);
  }
  searchBox.addEventListener("input", () => search(searchBox.value));
  searchBox.addEventListener("keydown", ev => { if (ev.key === "Enter") nextHit(); });

  // -- filmstrip ---------------------------------------------------------------------------
  const frameButtons = [];
  let frameTitle = null;
  if (D.frames.length > 1) {
    const prev = h("button", { id: "gx-prev", title: "previous pass (←)" }, film, "◀");
    prev.addEventListener("click", () => setFrame(S.frame - 1));
    D.frames.forEach((fr, k) => {
      const b = h("button", { class: "gx-frame", "data-frame": k, title: fr.title }, film, fr.label);
      b.addEventListener("click", () => setFrame(k));
      frameButtons.push(b);
    });
    const next = h("button", { id: "gx-next", title: "next pass (→)" }, film, "▶");
    next.addEventListener("click", () => setFrame(S.frame + 1));
    frameTitle = h("span", { class: "frame-title" }, film);
  } else {
    film.style.display = "none";
  }
  function setFrame(k) {
    if (!Number.isInteger(k)) throw new TypeError(`setFrame: ${k} is not a frame number`);
    k = Math.max(0, Math.min(D.frames.length - 1, k));
    S.frame = k;
    S.selected = null;
    frameButtons.forEach((b, i) => b.classList.toggle("current", i === k));
    if (frameTitle) frameTitle.textContent = D.frames[k].title;
    draw();
    fit();
    if (S.query) search(S.query); else showFrame();
  }
  document.addEventListener("keydown", ev => {
    if (ev.target === searchBox) return;
    if (ev.key === "ArrowLeft") setFrame(S.frame - 1);
    if (ev.key === "ArrowRight") setFrame(S.frame + 1);
  });

  // -- toolbar -----------------------------------------------------------------------------
  buttons.fit.addEventListener("click", fit);
  buttons.expand.addEventListener("click", expandAll);
  buttons.collapse.addEventListener("click", collapseAll);
  buttons.dir.addEventListener("click", () => { S.rankdir = S.rankdir === "TB" ? "LR" : "TB"; draw(); fit(); });
  numbersBox.addEventListener("change", () => { S.numbers = numbersBox.checked; draw(); });
  window.addEventListener("error", ev => S.errors.push(String(ev.message)));

  // -- start ---------------------------------------------------------------------------------
  const t0 = performance.now();
  const f0 = frameOf();
  S.collapsed = f0.nodes.length > OPEN_ALL ? foldTo(f0, LIMIT, null) : new Set();
  frameButtons.forEach((b, i) => b.classList.toggle("current", i === S.frame));
  if (frameTitle) frameTitle.textContent = f0.title;
  draw();
  fit();
  showFrame();
  S.startMs = performance.now() - t0;
  window.gxViewer = {
    state: S, data: D, setFrame, search, nextHit, expand, collapse, expandAll, collapseAll, fit, reveal, select,
    setNumbers(on) { numbersBox.checked = !!on; S.numbers = !!on; draw(); },
    setRankdir(d) {
      if (d !== "TB" && d !== "LR") throw new TypeError(`setRankdir: "TB" or "LR", not ${d}`);
      S.rankdir = d; draw(); fit();
    },
  };
  document.body.setAttribute("data-ready", "1");
})();
