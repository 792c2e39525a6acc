// The H5 top-up and paid-membership pages: the order is made by POST (/h5/topups with
// {"amount_fen"}, /h5/memberships with {"tier"}), paid through WeixinJSBridge's
// getBrandWCPayRequest, and the member lands on the page the answer names.
(function () {
  var form = document.querySelector("[data-topup-form]");
  if (!form) { return; }
  var chosen = 0, tier = "", error = form.querySelector("[data-topup-error]"), custom = form.querySelector("[name=custom]");
  function fail(text) { error.textContent = text; error.hidden = false; }
  form.addEventListener("click", function (e) {
    var b = e.target.closest ? e.target.closest("[data-amount],[data-tier]") : null;
    if (!b) { return; }
    chosen = parseInt(b.getAttribute("data-amount") || "0", 10);
    tier = b.getAttribute("data-tier") || "";
    if (custom) { custom.value = ""; }
    form.querySelectorAll("[data-amount],[data-tier]").forEach(function (x) { x.classList.toggle("on", x === b); });
  });
  if (custom) {
    custom.addEventListener("input", function () {
      chosen = 0;
      form.querySelectorAll("[data-amount]").forEach(function (x) { x.classList.remove("on"); });
    });
  }
  function amount() {
    if (chosen) { return chosen; }
    if (!custom) { return 0; }
    var m = /^\s*(\d{1,7})(?:\.(\d{1,2}))?\s*$/.exec(custom.value);
    if (!m) { return 0; }
    return parseInt(m[1], 10) * 100 + parseInt(((m[2] || "") + "00").slice(0, 2), 10);
  }
  function pay(params, done) {
    function go() { window.WeixinJSBridge.invoke("getBrandWCPayRequest", params, done); }
    if (window.WeixinJSBridge) { go(); } else { document.addEventListener("WeixinJSBridgeReady", go, false); }
  }
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    error.hidden = true;
    var body;
    if (tier) { body = {tier: tier}; } else {
      var fen = amount();
      if (!fen) { fail(form.getAttribute("data-error-amount")); return; }
      body = {amount_fen: fen};
    }
    var token = document.querySelector("meta[name=csrf-token]").getAttribute("content");
    fetch(form.getAttribute("data-create"), {method: "POST", credentials: "same-origin",
          headers: {"Content-Type": "application/json", "X-CSRFToken": token},
          body: JSON.stringify(body)})
      .then(function (r) { return r.json().then(function (j) { return {ok: r.ok, body: j}; }); })
      .then(function (res) {
        if (!res.ok) { fail(res.body.detail || form.getAttribute("data-error-failed")); return; }
        pay(res.body.jsapi, function (answer) {
          if (answer && answer.err_msg === "get_brand_wcpay_request:ok") { location.href = res.body.card_url; }
          else if (!answer || answer.err_msg !== "get_brand_wcpay_request:cancel") {
            fail(form.getAttribute("data-error-failed"));
          }
        });
      })
      .catch(function () { fail(form.getAttribute("data-error-failed")); });
  });
})();
