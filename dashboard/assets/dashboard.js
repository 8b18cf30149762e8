// effidx pages: fills the charts from the page's JSON (main[data-src]) and,
// on the cockpit, fetches it again every data-refresh seconds and updates
// the existing ECharts instances with setOption: no page reload, no
// flicker on a wall screen. Served by effidx itself; the CSP allows no
// other script.
(function () {
  'use strict';

  var main = document.querySelector('main[data-src]');
  if (!main || typeof echarts === 'undefined') {
    if (main) {
      main.querySelectorAll('[data-chart]').forEach(function (el) {
        showEmpty(el, '图表库未加载：请运维执行 go generate ./... 后重新构建 effidx');
      });
    }
    return;
  }
  var src = main.dataset.src;
  var refresh = parseInt(main.dataset.refresh || '0', 10);
  var theme = document.body.classList.contains('dark') ? 'dark' : null;
  var links = {};
  var first = true;

  function emptyFor(el) {
    var next = el.nextElementSibling;
    return next && next.dataset.emptyFor === el.dataset.chart ? next : null;
  }

  // showEmpty replaces a chart by its empty state: never a blank chart.
  function showEmpty(el, msg) {
    var inst = typeof echarts !== 'undefined' ? echarts.getInstanceByDom(el) : null;
    if (inst) {
      inst.dispose();
    }
    el.hidden = true;
    var p = emptyFor(el);
    if (!p) {
      p = document.createElement('p');
      p.className = 'empty';
      p.dataset.emptyFor = el.dataset.chart;
      el.after(p);
    }
    p.textContent = msg || '暂无数据';
  }

  function showChart(el, opt) {
    var p = emptyFor(el);
    if (p) {
      p.remove();
    }
    el.hidden = false;
    var inst = echarts.getInstanceByDom(el);
    if (!inst) {
      inst = echarts.init(el, theme, { renderer: 'canvas' });
      var name = el.dataset.chart;
      inst.on('click', function (params) {
        var l = links[name];
        var to = l && l[params.dataIndex];
        if (to) {
          window.location.href = to;
        }
      });
      el.classList.toggle('clickable', !!(links[name] && links[name].some(Boolean)));
      inst.setOption(opt);
    } else {
      // Same series, new data: merge, so the bars move instead of
      // redrawing from nothing.
      inst.setOption(opt, { replaceMerge: ['series', 'xAxis', 'yAxis'] });
    }
  }

  function setNotice(n) {
    var el = main.querySelector('[data-notice]');
    if (!n) {
      if (el) {
        el.remove();
      }
      return;
    }
    if (!el) {
      el = document.createElement('div');
      el.className = 'empty notice';
      el.dataset.notice = '';
      main.prepend(el);
    }
    el.textContent = n.Msg + ' ';
    if (n.Last) {
      var a = document.createElement('a');
      a.href = n.Last.Href;
      a.textContent = n.Last.Label;
      el.appendChild(a);
    }
  }

  function apply(data) {
    links = data.links || {};
    main.querySelectorAll('[data-chart]').forEach(function (el) {
      var name = el.dataset.chart;
      var opt = data.charts ? data.charts[name] : null;
      if (opt) {
        showChart(el, opt);
      } else {
        showEmpty(el, data.empty && data.empty[name]);
      }
    });
    var text = data.text || {};
    main.querySelectorAll('[data-text]').forEach(function (el) {
      var v = text[el.dataset.text];
      if (typeof v === 'string' && el.textContent !== v) {
        el.textContent = v;
      }
    });
    if (refresh > 0) {
      setNotice(data.notice);
    }
  }

  function stamp(ok) {
    var now = new Date();
    if (first) {
      document.body.dataset.ready = '1';
      first = false;
    }
    document.body.dataset.refreshed = now.toISOString();
    var label = main.querySelector('[data-refreshed-label]');
    if (label) {
      label.textContent = (ok ? '数据更新于 ' : '刷新失败，稍后重试 · ') + now.toLocaleTimeString('zh-CN', { hour12: false });
      label.classList.toggle('stale', !ok);
    }
  }

  function load() {
    fetch(src, { credentials: 'same-origin', headers: { Accept: 'application/json' }, cache: 'no-store' })
      .then(function (r) {
        if (!r.ok) {
          throw new Error('HTTP ' + r.status);
        }
        return r.json();
      })
      .then(function (data) {
        apply(data);
        stamp(true);
      })
      .catch(function () {
        // Keep what is shown; a wall screen should not go blank because
        // one fetch failed.
        stamp(false);
      })
      .finally(function () {
        if (refresh > 0) {
          window.setTimeout(load, refresh * 1000);
        }
      });
  }

  var resizing = 0;
  window.addEventListener('resize', function () {
    window.clearTimeout(resizing);
    resizing = window.setTimeout(function () {
      main.querySelectorAll('[data-chart]').forEach(function (el) {
        var inst = echarts.getInstanceByDom(el);
        if (inst) {
          inst.resize();
        }
      });
    }, 150);
  });

  load();
})();
