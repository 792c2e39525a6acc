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
