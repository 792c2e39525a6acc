/* The coupon wallet inside WeChat: "Add to WeChat card wallet" fetches the coupon's signed
   cardList entry and hands it to the JS-SDK's addCard; WeChat tells wxcrm (user_get_card). */
(function () {
  if (!window.wx) return;
  document.querySelectorAll('[data-coupon-card-url]').forEach(function (button) {
    button.hidden = false;
    button.addEventListener('click', function () {
      button.disabled = true;
      fetch(button.getAttribute('data-coupon-card-url'), {credentials: 'same-origin', cache: 'no-store'})
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (entry) {
          window.wx.addCard({cardList: [entry],
            success: function () { button.hidden = true; var done = button.nextElementSibling; if (done) done.hidden = false; },
            complete: function () { button.disabled = false; }});
        })
        .catch(function () { button.disabled = false; });
    });
  });
})();
