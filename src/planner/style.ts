/** The planner page's stylesheet (system fonts only: nothing is fetched). */
export const PAGE_CSS = `
:root{--fg:#1b1f24;--mut:#5b6570;--bd:#d0d7de;--bg:#fff;--acc:#0b5cad;--bad:#b42318;--ok:#1a7f37}
*{box-sizing:border-box}[hidden]{display:none!important}body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:#f6f8fa}
header{padding:10px 18px;background:#fff;border-bottom:1px solid var(--bd)}h1{font-size:18px;margin:0}header p{margin:2px 0 0;color:var(--mut)}
main{display:grid;grid-template-columns:370px 1fr;gap:14px;padding:14px 18px;max-width:1500px}
form fieldset{border:1px solid var(--bd);border-radius:6px;background:#fff;margin:0 0 10px;padding:8px 10px}
legend{font-weight:600;padding:0 4px}.row{display:grid;grid-template-columns:175px 1fr;align-items:center;gap:6px;margin:3px 0}
input,select,textarea,button{font:inherit}input,select{width:100%;padding:2px 4px;border:1px solid var(--bd);border-radius:4px}
textarea{width:100%;height:90px;font:12px ui-monospace,monospace}
button{padding:4px 10px;border:1px solid var(--acc);background:var(--acc);color:#fff;border-radius:4px;cursor:pointer}
button.sec{background:#fff;color:var(--acc)}:focus-visible{outline:3px solid #f5a623;outline-offset:1px}
section{background:#fff;border:1px solid var(--bd);border-radius:6px;padding:10px 12px;margin-bottom:12px}h2{font-size:15px;margin:0 0 8px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:8px}
.card{border:1px solid var(--bd);border-radius:6px;padding:6px 8px}.card .k{color:var(--mut);font-size:12px}.card output{display:block;font-size:20px;font-weight:600}
.src{font-size:11px;color:var(--mut)}.bad{color:var(--bad)}.ok{color:var(--ok)}
#alert{border-color:var(--bad);color:var(--bad)}#alert:empty{display:none}
table{border-collapse:collapse;width:100%}th,td{text-align:right;padding:2px 6px;border-bottom:1px solid #eee}th:first-child,td:first-child{text-align:left}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:8px}
svg{width:100%;height:auto;font-size:11px;fill:var(--fg)}svg .ax{stroke:#888}svg .gr{stroke:#eee}svg .sla{stroke:var(--bad);stroke-dasharray:5 4}svg .slat{fill:var(--bad)}svg .pt{font-weight:600;font-size:12px}
.bar{display:flex;height:18px;border-radius:4px;overflow:hidden;border:1px solid var(--bd)}.bar span{display:block;height:100%}
code{font:12px ui-monospace,monospace;word-break:break-all}.mut{color:var(--mut)}
@media (max-width:900px){main{grid-template-columns:1fr}}
`;
