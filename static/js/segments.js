// The segment builder: one row per condition, the figures refreshed as it changes.
(function () {
  const spec = JSON.parse(document.getElementById('builder-spec').textContent);
  const fields = Object.fromEntries(spec.fields.map(f => [f.name, f]));
  const box = document.getElementById('conditions');
  let timer = null;

  function el(tag, attrs, children) {
    const e = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => { if (k === 'text') e.textContent = v; else e.setAttribute(k, v); });
    (children || []).forEach(c => e.appendChild(c));
    return e;
  }

  function addRow(cond) {
    const f = fields[cond.field];
    if (!f) return;
    const row = el('div', {class: 'condition', 'data-field': f.name, style: 'display:flex;gap:8px;align-items:center;flex-wrap:wrap;margin-bottom:10px'});
    row.appendChild(el('b', {text: f.label, style: 'min-width:120px'}));
    const op = el('select', {class: 'op inline-select', 'aria-label': f.label});
    f.ops.forEach(([value, label]) => op.appendChild(el('option', {value: value, text: label})));
    op.value = cond.op || f.ops[0][0];
    if (f.ops.length > 1) row.appendChild(op); else { op.style.display = 'none'; row.appendChild(op); }
    let input;
    if (f.kind === 'choice' && f.choices.length) {
      input = el('select', {class: 'value inline-select', multiple: 'multiple', size: Math.min(f.choices.length, 4), 'aria-label': f.label});
      const chosen = new Set((cond.value || []).map(String));
      f.choices.forEach(([value, label]) => {
        const o = el('option', {value: value, text: label});
        if (chosen.has(String(value))) o.selected = true;
        input.appendChild(o);
      });
    } else if (f.kind === 'bool') {
      input = el('select', {class: 'value inline-select', 'aria-label': f.label});
      input.appendChild(el('option', {value: 'true', text: spec.text.yes}));
      input.appendChild(el('option', {value: 'false', text: spec.text.no}));
      input.value = cond.value === false ? 'false' : 'true';
    } else if (f.kind === 'number') {
      input = el('input', {class: 'value', type: 'number', style: 'width:140px', 'aria-label': f.label});
      input.value = cond.value != null ? cond.value : '';
    } else {
      input = el('input', {class: 'value', type: 'text', style: 'width:180px', 'aria-label': f.label, placeholder: '…'});
      input.value = (cond.value || []).join(', ');
    }
    row.appendChild(input);
    if (f.window) {
      const w = el('input', {class: 'window', type: 'number', min: 1, max: 3650, style: 'width:80px', 'aria-label': spec.text.window.replace('{n}', 'N')});
      w.value = cond.window_days || 365;
      const parts = spec.text.window.split('{n}');
      row.appendChild(el('span', {class: 'muted', text: parts[0]}));
      row.appendChild(w);
      row.appendChild(el('span', {class: 'muted', text: parts[1] || ''}));
    }
    const remove = el('button', {type: 'button', class: 'btn small', text: spec.text.remove});
    remove.addEventListener('click', () => { row.remove(); refresh(); });
    row.appendChild(remove);
    row.addEventListener('change', refresh);
    row.addEventListener('input', refresh);
    box.appendChild(row);
  }

  function read() {
    return Array.from(box.querySelectorAll('.condition')).map(row => {
      const f = fields[row.dataset.field];
      const input = row.querySelector('.value');
      let value;
      if (f.kind === 'choice' && input.tagName === 'SELECT') value = Array.from(input.selectedOptions).map(o => o.value);
      else if (f.kind === 'bool') value = input.value === 'true';
      else if (f.kind === 'number') value = input.value === '' ? null : Number(input.value);
      else value = input.value.split(/[,，]/).map(s => s.trim()).filter(Boolean);
      const cond = {field: f.name, op: row.querySelector('.op').value, value: value};
      const w = row.querySelector('.window');
      if (w) cond.window_days = Number(w.value || 365);
      return cond;
    });
  }

  function show(data) {
    document.getElementById('size').textContent = data.size.toLocaleString();
    document.querySelectorAll('[data-reach]').forEach(td => { td.textContent = (data.reach[td.dataset.reach] || 0).toLocaleString(); });
    const list = document.getElementById('sample');
    list.innerHTML = '';
    data.sample.forEach(m => { const li = el('li'); li.appendChild(el('a', {href: m.url, text: m.card_no + ' ' + m.name})); list.appendChild(li); });
  }

  function refresh() {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const filters = read();
      document.getElementById('filters-json').value = JSON.stringify(filters);
      const error = document.getElementById('preview-error');
      if (filters.some(c => c.value === null || (Array.isArray(c.value) && !c.value.length))) { error.textContent = ''; return; }
      const res = await fetch(box.dataset.previewUrl, {method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRFToken': box.dataset.csrf},
                                                          body: JSON.stringify({filters: filters})});
      const data = await res.json();
      if (!res.ok) { error.textContent = data.error || ''; return; }
      error.textContent = '';
      show(data);
    }, 250);
  }

  document.getElementById('add-field').addEventListener('change', e => {
    if (e.target.value) { addRow({field: e.target.value}); e.target.value = ''; refresh(); }
  });
  document.getElementById('save-form').addEventListener('submit', () => {
    document.getElementById('filters-json').value = JSON.stringify(read());
  });
  JSON.parse(document.getElementById('builder-filters').textContent).forEach(addRow);
  refresh();
})();
