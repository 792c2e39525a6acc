/* The till's camera button: scan a member code (QR or barcode) with html5-qrcode where the
   browser offers a camera; the value goes into the scan field, which is then looked up. A USB
   scanner needs none of this: it types into the field and presses Enter. */
(function () {
  var button = document.getElementById('scan-camera');
  var field = document.getElementById('card_no');
  var reader = document.getElementById('camera-reader');
  if (!button || !field || !reader) return;
  if (!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia) || typeof Html5Qrcode === 'undefined') return;
  button.hidden = false;
  var scanner = null;
  function stop() {
    if (scanner) { scanner.stop().catch(function () {}); scanner = null; }
    reader.hidden = true;
  }
  button.addEventListener('click', function () {
    if (scanner) { stop(); return; }
    reader.hidden = false;
    scanner = new Html5Qrcode('camera-reader');
    scanner.start({facingMode: 'environment'}, {fps: 10, qrbox: {width: 240, height: 240}}, function (text) {
      var value = (text || '').replace(/\D/g, '');
      if (!value) return;
      stop();
      field.value = value;
      field.form.submit();
    }).catch(function () {
      stop();
      document.getElementById('camera-error').hidden = false;
    });
  });
})();
