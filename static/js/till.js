// Till basket: add and remove lines, show line amounts and the total as the cashier types,
// say when a price has more than two decimals, and the most points the bill can take.
// Money is handled in integer fen here too; the server prices the basket again.
(function () {
  const lines = document.getElementById("lines");
  if (!lines) return;
  const toFen = (text) => {
    const m = /^\s*(\d*)(?:\.(\d{0,2}))?\s*$/.exec(text || "");
    if (!m || (!m[1] && !m[2])) return null;
    return parseInt(m[1] || "0", 10) * 100 + parseInt(((m[2] || "") + "00").slice(0, 2), 10);
  };
  const tooPrecise = (text) => /^\s*\d*\.\d{3,}\s*$/.test(text || "");
  const yuan = (fen) => (fen / 100 | 0) + "." + String(fen % 100).padStart(2, "0");
  const points = document.getElementById("points_to_use");
  const pointsMax = document.getElementById("points-max");
  function recalc() {
    let total = 0;
    lines.querySelectorAll("tr.line").forEach((tr) => {
      const qty = parseInt(tr.querySelector("[name=qty]").value, 10);
      const priceText = tr.querySelector("[name=price]").value;
      const price = toFen(priceText);
      const cell = tr.querySelector(".amount");
      tr.querySelector(".price-hint").hidden = !tooPrecise(priceText);
      if (qty > 0 && price !== null) { cell.textContent = "¥" + yuan(qty * price); total += qty * price; }
      else cell.textContent = "—";
    });
    document.getElementById("basket-total").textContent = "¥" + yuan(total);
    if (points && pointsMax) {
      const value = parseInt(points.dataset.pointValue, 10) || 1;
      const share = parseInt(points.dataset.maxShare, 10);
      const available = parseInt(points.dataset.available, 10) || 0;
      const byBill = Math.floor(Math.floor(total * share / 100) / value);
      pointsMax.textContent = String(total > 0 ? Math.min(available, byBill) : available);
    }
  }
  document.getElementById("add-line").addEventListener("click", () => {
    const row = lines.querySelector("tr.line").cloneNode(true);
    row.querySelectorAll("input").forEach((i) => { i.value = i.name === "qty" ? "1" : ""; });
    lines.appendChild(row);
    row.querySelector("[name=sku]").focus();
    recalc();
  });
  lines.addEventListener("click", (e) => {
    if (!e.target.classList.contains("remove")) return;
    if (lines.querySelectorAll("tr.line").length > 1) e.target.closest("tr").remove();
    recalc();
  });
  lines.addEventListener("input", recalc);
  document.getElementById("sale-form").addEventListener("submit", () => {
    document.getElementById("ring-up").disabled = true;  // one sale per click; the key makes repeats harmless
  });
  recalc();
})();

// The live preview: as the basket changes, ask the server what ringing up would give now
// (the rules' discounts, the coupons chosen and why others are left out); it writes nothing.
(function () {
  const box = document.getElementById("till-preview");
  const form = document.getElementById("sale-form");
  if (!box || !form) return;
  let timer = null, seq = 0;
  const esc = (t) => String(t == null ? "" : t).replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
  async function refresh() {
    const mine = ++seq;
    const data = new FormData(form);
    data.delete("action");
    let body;
    try {
      const res = await fetch(box.dataset.url, {method: "POST", body: data, headers: {"Accept": "application/json"}});
      body = await res.json();
    } catch (e) { return; }
    if (mine !== seq) return;            // a newer basket is on its way
    if (body.error !== undefined) {
      box.innerHTML = body.error ? '<div class="error" data-testid="preview-error">' + esc(body.error) + "</div>" : "";
      return;
    }
    let html = '<table class="preview">';
    body.lines.forEach((ln) => {
      const right = ln.amount !== null ? "¥" + esc(ln.amount) : (ln.points !== null ? esc(ln.points) : "");
      html += '<tr class="' + esc(ln.kind) + '" data-testid="preview-' + esc(ln.kind) + '"><td>' + esc(ln.text) + '</td><td class="num">' + right + "</td></tr>";
    });
    html += "</table>";
    body.not_applied.forEach((c) => {
      html += '<div class="muted" style="font-size:12px" data-testid="preview-not-applied">' + esc(c.title) + " " + esc(c.code) + "：" + esc(c.reason) + "</div>";
    });
    box.innerHTML = html;
  }
  const later = () => { clearTimeout(timer); timer = setTimeout(refresh, 350); };
  form.addEventListener("input", later);
  form.addEventListener("change", later);
  refresh();
})();
