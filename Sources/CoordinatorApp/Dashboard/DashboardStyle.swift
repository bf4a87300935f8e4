/// The dashboard's inline CSS: one column on a phone, wider grids on a
/// desktop; tables scroll sideways inside their wrapper rather than widen the
/// page; charts take the container's width. Follows the system's light or
/// dark scheme.
enum DashboardStyle {
    static let css = """
        :root{color-scheme:light dark;--fg:#1b1f24;--muted:#5b6570;--bg:#f6f7f9;--card:#fff;--line:#d8dde3;\
        --accent:#2563eb;--train:#2563eb;--validation:#e8590c;--ok:#2f9e44;--bad:#c92a2a}
        @media (prefers-color-scheme:dark){:root{--fg:#e6e8eb;--muted:#9aa4ae;--bg:#14171a;--card:#1d2125;\
        --line:#343a40;--accent:#6ea8fe;--train:#6ea8fe;--validation:#ff922b;--ok:#69db7c;--bad:#ff6b6b}}
        *{box-sizing:border-box}
        body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
        header,main,footer{max-width:1200px;margin:0 auto;padding:0 12px}
        header{display:flex;flex-wrap:wrap;gap:4px 16px;align-items:baseline;padding-top:12px}
        header .brand{font-size:1.3rem;font-weight:700;color:var(--fg);text-decoration:none}
        header .sub{color:var(--muted);font-size:.9rem}
        footer{color:var(--muted);font-size:.85rem;padding-bottom:24px}
        a{color:var(--accent)}
        h1{font-size:1.4rem;margin:.6em 0 .3em;overflow-wrap:anywhere}
        h2{font-size:1.2rem;margin:0 0 .4em;overflow-wrap:anywhere}
        h3{font-size:1rem;margin:1em 0 .4em;color:var(--muted)}
        section.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px;margin:12px 0}
        .state{display:inline-block;font-size:.75rem;font-weight:600;text-transform:uppercase;padding:1px 8px;\
        border-radius:10px;border:1px solid currentColor;vertical-align:middle}
        .state-active,.online{color:var(--ok)}
        .state-paused{color:var(--muted)}
        .state-finished{color:var(--accent)}
        .offline{color:var(--muted)}
        h1 .badge{font-size:.85rem;font-weight:600;vertical-align:middle}
        .rejected,.bad{color:var(--bad)}
        progress{width:100%;height:14px;accent-color:var(--accent)}
        .progress-line{margin:.2em 0 .6em}
        .stats{display:grid;grid-template-columns:repeat(auto-fill,minmax(9.5rem,1fr));gap:8px;margin:8px 0}
        .stat{border:1px solid var(--line);border-radius:6px;padding:6px 8px;min-width:0}
        .stat .label{display:block;color:var(--muted);font-size:.78rem}
        .stat .value{display:block;font-size:1.05rem;font-weight:600;font-variant-numeric:tabular-nums;overflow-wrap:anywhere}
        .stat .note{display:block;color:var(--muted);font-size:.75rem}
        .stat.wide{grid-column:1/-1}
        .stat.wide .value{font-size:.9rem;font-weight:400}
        .columns{display:grid;grid-template-columns:minmax(0,1fr);gap:0 24px}
        @media (min-width:900px){.columns{grid-template-columns:minmax(0,5fr) minmax(0,4fr)}}
        figure.chart{margin:0}
        svg.chart{display:block;width:100%;height:auto;max-height:70vh}
        svg .axis{stroke:var(--muted);fill:none;stroke-width:1.5;vector-effect:non-scaling-stroke}
        svg .grid{stroke:var(--line);fill:none;stroke-dasharray:4 4;vector-effect:non-scaling-stroke}
        svg .tick{fill:var(--muted);font-size:18px}
        svg.chart-big .tick{font-size:15px}
        @media (max-width:600px){svg.chart .tick{font-size:22px}svg.chart-big .tick{font-size:34px}}
        svg polyline{fill:none;stroke-width:2.5;stroke-linejoin:round;stroke-linecap:round;vector-effect:non-scaling-stroke}
        svg polyline.train{stroke:var(--train)}
        svg polyline.validation{stroke:var(--validation);stroke-dasharray:6 4}
        svg circle.train{fill:var(--train)}
        svg circle.validation{fill:var(--validation)}
        .legend{list-style:none;padding:0;margin:4px 0;display:flex;flex-wrap:wrap;gap:4px 16px;font-size:.85rem;color:var(--muted)}
        .swatch{display:inline-block;width:14px;height:4px;margin-right:6px;vertical-align:middle;border-radius:2px}
        .swatch.train{background:var(--train)}
        .swatch.validation{background:var(--validation)}
        .table-wrap{overflow-x:auto;-webkit-overflow-scrolling:touch;margin:4px 0 8px}
        table{border-collapse:collapse;width:100%;font-size:.9rem}
        caption{text-align:left;color:var(--muted);font-size:.8rem}
        th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
        th{color:var(--muted);font-weight:600;font-size:.8rem}
        td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
        td.name{white-space:normal;overflow-wrap:anywhere;min-width:7rem}
        td.backend{white-space:normal;min-width:9rem;max-width:22rem;font-size:.8rem}
        td.message{white-space:normal;min-width:14rem;overflow-wrap:anywhere}
        ul.inline{list-style:none;padding:0;margin:4px 0;display:flex;flex-wrap:wrap;gap:4px 16px}
        .empty{color:var(--muted);font-style:italic}
        """
}
