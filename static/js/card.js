/* The card page: fetch a fresh member code before the shown one expires, and when the page
   comes back into view (WeChat keeps pages alive in the background). */
(function () {
  var box = document.querySelector('[data-code-url]');
  if (!box) return;
  var url = box.getAttribute('data-code-url');
  var timer = null;
  function group(token) { return token.replace(/(\d{4})(?=\d)/g, '$1 '); }
  function schedule(seconds) {
    clearTimeout(timer);
    timer = setTimeout(refresh, Math.max(5, seconds - 5) * 1000);
  }
  function refresh() {
    fetch(url, {credentials: 'same-origin', headers: {'Accept': 'application/json'}, cache: 'no-store'})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (body) {
        box.querySelector('[data-testid=member-qr]').innerHTML = body.qr_svg;
        box.querySelector('[data-testid=member-barcode]').innerHTML = body.barcode_svg;
        box.querySelector('[data-testid=member-code-digits]').textContent = group(body.token);
        box.setAttribute('data-token-expires', body.expires_at);
        schedule(body.refresh_in);
      })
      .catch(function () { schedule(15); });
  }
  document.addEventListener('visibilitychange', function () { if (!document.hidden) refresh(); });
  schedule(parseInt(box.getAttribute('data-refresh-in'), 10) || 60);
})();
/* Inside WeChat: "Add to WeChat wallet" hands the member card to the JS-SDK's addCard. */
(function () {
  var button = document.querySelector('[data-wallet-url]');
  if (!button || !window.wx) return;
  button.hidden = false;
  button.addEventListener('click', function () {
    fetch(button.getAttribute('data-wallet-url'), {credentials: 'same-origin', cache: 'no-store'})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (entry) { window.wx.addCard({cardList: [entry], success: function () { button.hidden = true; }}); });
  });
})();
