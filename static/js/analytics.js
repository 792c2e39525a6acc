// The analytics pages: ECharts (vendored under static/vendor/echarts) drawn from the JSON the
// page carries in <script type="application/json" id="analytics-data">; a click on a bar or a
// slice opens the drill-down behind it. Export links show their progress.
(function () {
  var holder = document.getElementById("analytics-data");
  if (holder && window.echarts) {
    var data = JSON.parse(holder.textContent);
    var names = data.series || [];
    var yuan = function (fen) { return "¥" + (fen / 100).toLocaleString("zh-CN", {maximumFractionDigits: 2}); };
    data.charts.forEach(function (c) {
      var el = document.getElementById(c.id);
      if (!el) { return; }
      var chart = echarts.init(el, null, {renderer: "canvas"});
      var fmt = c.money ? yuan : function (v) { return Number(v).toLocaleString("zh-CN"); };
      var option;
      if (c.kind === "pie") {
        option = {tooltip: {trigger: "item", valueFormatter: fmt}, legend: {bottom: 0, type: "scroll"},
                  series: [{type: "pie", radius: ["35%", "65%"], data: c.categories.map(function (name, i) {
                    return {name: name, value: c.now[i]}; })}]};
      } else {
        var series = c.series ? c.series.map(function (s) { return {name: s.name, type: "bar", data: s.data}; })
          : [{name: names[0], type: c.kind, data: c.now, smooth: true},
             {name: names[1], type: c.kind, data: c.before, smooth: true, itemStyle: {opacity: 0.45},
              lineStyle: {type: "dashed"}}];
        option = {tooltip: {trigger: "axis", valueFormatter: fmt}, legend: {top: 0, type: "scroll"},
                  grid: {left: 8, right: 8, bottom: 8, top: 32, containLabel: true},
                  xAxis: {type: "category", data: c.categories, axisLabel: {hideOverlap: true}},
                  yAxis: {type: "value", axisLabel: {formatter: c.money ? function (v) { return (v / 100).toLocaleString("zh-CN"); } : null}},
                  series: series};
      }
      chart.setOption(option);
      el.setAttribute("data-rendered", "1");
      chart.on("click", function (p) {
        var url = c.drill && c.drill[p.dataIndex];
        if (url) { window.location.href = url; }
      });
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }
  // Exports: fetch the file, show how far it is, then hand it to the browser.
  var progress = document.querySelector("[data-export-progress]");
  document.addEventListener("click", function (e) {
    var link = e.target.closest ? e.target.closest("a[data-export]") : null;
    if (!link || !progress || !window.fetch || !window.ReadableStream) { return; }
    e.preventDefault();
    progress.textContent = progress.getAttribute("data-preparing");
    fetch(link.href, {credentials: "same-origin"}).then(function (response) {
      var total = Number(response.headers.get("Content-Length")) || 0, got = 0, chunks = [];
      var name = (response.headers.get("Content-Disposition") || "").split("filename=")[1] || "export";
      var reader = response.body.getReader();
      function pump() {
        return reader.read().then(function (r) {
          if (r.done) {
            var a = document.createElement("a");
            a.href = URL.createObjectURL(new Blob(chunks));
            a.download = name.replace(/"/g, "");
            document.body.appendChild(a); a.click(); a.remove();
            progress.textContent = progress.getAttribute("data-done");
            return;
          }
          chunks.push(r.value); got += r.value.length;
          var shown = total ? Math.round(100 * got / total) + "%" : Math.round(got / 1024) + " KB";
          progress.textContent = progress.getAttribute("data-downloading").replace("%s", shown);
          return pump();
        });
      }
      return pump();
    });
  });
})();
