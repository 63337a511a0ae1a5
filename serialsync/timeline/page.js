// Zoom, axis ticks and details for serialsync's timeline. The page reads without it:
// every element is drawn for the whole run; this moves them to the chosen window.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("data").textContent);
  var lanes = document.getElementById("lanes"), axis = document.getElementById("axis");
  var L = data.label, total = Math.max(data.duration, 1e-3), t0 = data.first, t1 = total, W = data.plot;
  var timed = Array.prototype.slice.call(lanes.querySelectorAll("[data-s]"));
  var STEPS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300,
    600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  function X(t) { return L + (t - t0) / (t1 - t0) * W; }
  function label(t, step) {
    if (step < 1) { return t.toFixed(Math.min(3, Math.ceil(-Math.log10(step) - 1e-9))) + " s"; }
    if (t1 < 60) { return Math.round(t) + " s"; }
    var s = Math.round(t), h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), r = s % 60;
    var mm = (t1 >= 3600 ? String(m).padStart(2, "0") : String(m)) + ":" + String(r).padStart(2, "0");
    return t1 >= 3600 ? h + ":" + mm : mm;
  }
  function svg(tag, attrs, text) {
    var el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (var k in attrs) { el.setAttribute(k, attrs[k]); }
    if (text !== undefined) { el.textContent = text; }
    return el;
  }
  function ticks() {
    var raw = (t1 - t0) / Math.max(2, W / 110), step = STEPS[STEPS.length - 1];
    for (var i = 0; i < STEPS.length; i++) { if (STEPS[i] >= raw) { step = STEPS[i]; break; } }
    var grid = document.getElementById("grid"), marks = document.getElementById("ticks");
    grid.textContent = ""; marks.textContent = "";
    var h = lanes.getAttribute("height");
    for (var t = Math.ceil(t0 / step - 1e-9) * step; t <= t1 + 1e-9; t += step) {
      var x = X(t).toFixed(1);
      grid.appendChild(svg("line", { x1: x, x2: x, y1: 0, y2: h, "class": "grid" }));
      marks.appendChild(svg("line", { x1: x, x2: x, y1: 20, y2: 28, "class": "grid" }));
      marks.appendChild(svg("text", { x: x, y: 15, "class": "tick", "text-anchor": "middle" }, label(t, step)));
    }
  }
  function layout() {
    for (var i = 0; i < timed.length; i++) {
      var el = timed[i], s = +el.dataset.s, e = el.dataset.e, tag = el.tagName;
      if (tag === "rect") {
        var x = X(s); el.setAttribute("x", x.toFixed(1));
        el.setAttribute("width", Math.max(2, X(+e) - x).toFixed(1));
      } else if (tag === "line") {
        el.setAttribute("x1", X(s).toFixed(1)); el.setAttribute("x2", X(e === undefined ? s : +e).toFixed(1));
      } else if (tag === "circle") {
        el.setAttribute("cx", X(s).toFixed(1));
      } else if (tag === "text") {
        var tx = X(s) + (+el.dataset.dx || 0); el.setAttribute("x", tx.toFixed(1));
        if (e !== undefined) { el.style.display = X(+e) - X(s) >= el.textContent.length * 6 + 4 ? "" : "none"; }
      }
    }
    unclutter();
    ticks();
    document.getElementById("from").value = +t0.toFixed(3);
    document.getElementById("to").value = +t1.toFixed(3);
  }
  // Labels of rounds and reports that would overlap the one before are hidden.
  var tags = Array.prototype.slice.call(lanes.querySelectorAll(".rl, .stuck-l"));
  function unclutter() {
    var rows = {};
    tags.map(function (el) { return [+el.getAttribute("x"), el]; })
      .sort(function (a, b) { return a[0] - b[0]; })
      .forEach(function (item) {
        var row = item[1].getAttribute("y"), free = rows[row] === undefined || item[0] >= rows[row];
        item[1].style.display = free ? "" : "none";
        if (free) { rows[row] = item[0] + item[1].textContent.length * 5.5 + 6; }
      });
  }
  function zoom(a, b) {
    a = Math.max(0, Math.min(a, total)); b = Math.max(0, Math.min(b, total));
    if (b - a < 1e-3) { b = Math.min(total, a + 1e-3); a = b - 1e-3; }
    t0 = a; t1 = b; layout();
    if (history.replaceState) { history.replaceState(null, "", "#from=" + +a.toFixed(3) + "&to=" + +b.toFixed(3)); }
  }
  function resize() {
    var width = Math.max(600, document.getElementById("lanebox").clientWidth);
    W = width - L - 10; lanes.setAttribute("width", width); axis.setAttribute("width", width);
    document.getElementById("plotclip").setAttribute("width", W); layout();
  }
  // --- zoom controls: buttons, fields, wheel over the axis, a drag on the axis -----------------
  function by(factor) { var mid = (t0 + t1) / 2, half = (t1 - t0) * factor / 2; zoom(mid - half, mid + half); }
  function pan(share) { var d = (t1 - t0) * share; if (t0 + d < 0) { d = -t0; } if (t1 + d > total) { d = total - t1; } zoom(t0 + d, t1 + d); }
  document.getElementById("all").onclick = function () { zoom(0, total); };
  document.getElementById("zin").onclick = function () { by(0.5); };
  document.getElementById("zout").onclick = function () { by(2); };
  document.getElementById("left").onclick = function () { pan(-0.5); };
  document.getElementById("right").onclick = function () { pan(0.5); };
  document.getElementById("apply").onclick = function () {
    zoom(+document.getElementById("from").value, +document.getElementById("to").value);
  };
  function timeAt(ev) { var r = axis.getBoundingClientRect(); return t0 + (ev.clientX - r.left - L) / W * (t1 - t0); }
  axis.addEventListener("wheel", function (ev) {
    ev.preventDefault(); var at = timeAt(ev), f = ev.deltaY > 0 ? 1.25 : 0.8;
    zoom(at - (at - t0) * f, at + (t1 - at) * f);
  }, { passive: false });
  var drag = null, sel = document.getElementById("sel");
  axis.addEventListener("mousedown", function (ev) { drag = timeAt(ev); });
  window.addEventListener("mousemove", function (ev) {
    if (drag === null) { return; }
    var a = X(Math.min(drag, timeAt(ev))), b = X(Math.max(drag, timeAt(ev)));
    sel.setAttribute("x", a); sel.setAttribute("width", Math.max(0, b - a));
  });
  window.addEventListener("mouseup", function (ev) {
    if (drag === null) { return; }
    var a = Math.min(drag, timeAt(ev)), b = Math.max(drag, timeAt(ev));
    drag = null; sel.setAttribute("width", 0);
    if ((b - a) / (t1 - t0) * W > 4) { zoom(a, b); }
  });
  // --- details on hover, pinned by a click -----------------------------------------------------
  var panel = document.getElementById("details"), pinned = null;
  function show(id) {
    var d = data.details[id]; if (!d) { return; }
    var html = "<button class=close title=close>×</button><h2></h2><table></table>";
    panel.innerHTML = html; panel.querySelector("h2").textContent = d.title;
    var table = panel.querySelector("table");
    d.rows.forEach(function (row) {
      var tr = table.insertRow(), k = tr.insertCell(), v = tr.insertCell(); k.textContent = row[0]; v.textContent = row[1];
    });
    if (d.console) {
      var pool = data.lines[d.console[0]], pre = document.createElement("pre");
      pre.textContent = d.console[1].map(function (n) { return pool[n]; }).join("\n"); panel.appendChild(pre);
    }
    panel.querySelector(".close").onclick = function () { pinned = null; panel.hidden = true; mark(null); };
    panel.hidden = false;
  }
  var lit = [];
  function mark(id) {
    lit.forEach(function (el) { el.classList.remove("on"); }); lit = [];
    if (id) { lit = Array.prototype.slice.call(lanes.querySelectorAll('[data-i="' + id + '"]')); }
    lit.forEach(function (el) { el.classList.add("on"); });
  }
  lanes.addEventListener("mouseover", function (ev) {
    var id = ev.target.getAttribute && ev.target.getAttribute("data-i"); if (id && !pinned) { show(id); }
  });
  lanes.addEventListener("click", function (ev) {
    var id = ev.target.getAttribute && ev.target.getAttribute("data-i");
    if (id) { pinned = id; show(id); mark(id); }
  });
  document.querySelectorAll("[data-goto]").forEach(function (el) {
    el.onclick = function () { var at = +el.dataset.goto, w = Math.max((t1 - t0) / 4, 1); zoom(at - w / 2, at + w / 2); };
  });
  window.addEventListener("resize", resize);
  var hash = /from=([\d.]+)&to=([\d.]+)/.exec(location.hash);
  resize();
  if (hash) { zoom(+hash[1], +hash[2]); }
  var chosen = /show=([\w.]+)/.exec(location.hash);  // #show=ID: that element's details, pinned
  if (chosen) { pinned = chosen[1]; show(pinned); mark(pinned); }
  document.body.setAttribute("data-ready", "1");
})();
