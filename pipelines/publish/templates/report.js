// Charts follow the reader's light or dark setting (the page's colours follow it by CSS; plotly draws
// its own, so each chart is re-themed here when the system is dark, and again when the setting changes).
(function () {
  var query = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  var themes = {
    dark: {bg: "#161616", fg: "#e6e6e6", grid: "#333333", zero: "#555555", label: "rgba(22,22,22,0.75)"},
    light: {bg: "#ffffff", fg: "#2a3f5f", grid: "#ebf0f8", zero: "#ebf0f8", label: "rgba(255,255,255,0.6)"}
  };
  function apply(el, t) {
    var update = {"paper_bgcolor": t.bg, "plot_bgcolor": t.bg, "font.color": t.fg};
    (el.layout.annotations || []).forEach(function (note, i) {
      if (note.bgcolor) { update["annotations[" + i + "].bgcolor"] = t.label; }
    });
    Object.keys(el.layout || {}).forEach(function (key) {
      if (/^[xy]axis\d*$/.test(key)) {
        update[key + ".gridcolor"] = t.grid;
        update[key + ".zerolinecolor"] = t.zero;
      }
    });
    window.Plotly.relayout(el, update);
  }
  function all() {
    if (!window.Plotly) { return; }
    var t = query && query.matches ? themes.dark : themes.light;
    document.querySelectorAll(".js-plotly-plot").forEach(function (el) { apply(el, t); });
  }
  function fit() {
    // a chart drawn before the page's scrollbar (or a narrower window) appeared takes its box's width again;
    // on a phone a heatmap's numbers would overlap: they are left to the hover there
    if (!window.Plotly) { return; }
    var narrow = window.innerWidth < 700;
    document.querySelectorAll(".js-plotly-plot").forEach(function (el) {
      (el.data || []).forEach(function (trace, i) {
        if (trace.meta === "cell-text") {   // a heatmap's numbers, drawn as their own text trace
          if (trace.visible !== !narrow) { window.Plotly.restyle(el, {visible: !narrow}, [i]); }
          return;
        }
        if (trace.type !== "heatmap") { return; }
        if (trace.fullTexttemplate === undefined) { trace.fullTexttemplate = trace.texttemplate; }
        var wanted = narrow ? "" : trace.fullTexttemplate;
        if (trace.texttemplate !== wanted) { window.Plotly.restyle(el, {texttemplate: wanted}, [i]); }
      });
      window.Plotly.Plots.resize(el);
    });
  }
  window.addEventListener("load", function () {
    fit();
    if (query && query.matches) { all(); }
    if (window.ResizeObserver) {
      var seen = new ResizeObserver(function () { fit(); });
      seen.observe(document.body);
    }
  });
  if (query && query.addEventListener) { query.addEventListener("change", all); }
})();
