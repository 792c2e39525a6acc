// Small behaviours every page may use, wired by data attributes (no inline script or handler,
// so the Content-Security-Policy can forbid them).
(function () {
  document.addEventListener("change", function (e) {
    var el = e.target;
    if (el.matches && el.matches("[data-autosubmit]") && el.form) { el.form.submit(); }
  });
  document.addEventListener("submit", function (e) {
    var form = e.target, question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { e.preventDefault(); }
  });
  document.addEventListener("click", function (e) {
    var el = e.target.closest ? e.target.closest("[data-print],[data-busy-text]") : null;
    if (!el) { return; }
    if (el.hasAttribute("data-print")) { window.print(); }
    if (el.hasAttribute("data-busy-text")) { el.textContent = el.getAttribute("data-busy-text"); }
  });
  // H5 inside WeChat: the JS-SDK config is fetched, not rendered, so a page never waits on WeChat.
  var jssdk = document.querySelector("[data-jssdk-config]");
  if (jssdk && window.fetch) {
    fetch(jssdk.getAttribute("data-jssdk-config") + "?url=" + encodeURIComponent(location.href.split("#")[0]),
          {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (cfg) { if (cfg && window.wx) { window.wx.config(cfg); } });
  }
})();
