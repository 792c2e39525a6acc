// Rule editor and simulator: add and remove rows, and fit each row to its fact, its
// action type and the rule's event. The server turns the posted fields into the rule;
// without this script the form still works, it only shows every field.
(function () {
  const byId = (id) => document.getElementById(id);
  const readJson = (id) => { const el = byId(id); return el ? JSON.parse(el.textContent) : null; };
  const facts = {}; (readJson("fact-catalogue") || []).forEach((f) => { facts[f.name] = f; });
  const actions = {}; (readJson("action-catalogue") || []).forEach((a) => { actions[a.type] = a; });
  const words = readJson("rule-words") || { ops: {}, placeholders: {} };
  const eventSelect = byId("event");

  function placeholder(spec, op) {
    const one = spec.choices && spec.choices.length ? spec.choices[0] : (words.placeholders[spec.type] || "");
    if (op === "between") return spec.type === "money" ? "100, 500" : spec.type === "date" ? "2026-01-01, 2026-01-31" : "1, 5";
    if (op === "in" || op === "not_in") return spec.choices && spec.choices.length ? spec.choices.slice(0, 2).join(", ") : (spec.type === "int" ? "6, 7" : "a, b");
    return one;
  }

  function choicesList(spec) {
    const id = "choices-" + spec.name.replace(/\W/g, "-");
    if (!byId(id)) {
      const list = document.createElement("datalist");
      list.id = id;
      (spec.type === "bool" ? [words.yes, words.yes === "是" ? "否" : "false"] : spec.choices)
        .forEach((c) => list.appendChild(new Option(c, c)));
      document.body.appendChild(list);
    }
    return id;
  }

  function fitCondition(row, factChanged) {
    const spec = facts[row.querySelector(".cond-fact").value];
    if (!spec) return;
    const op = row.querySelector(".cond-op");
    if (factChanged) {
      const current = op.value;
      op.innerHTML = "";
      spec.operators.forEach((o) => op.add(new Option(words.ops[o] || o, o)));
      op.value = spec.operators.includes(current) ? current : spec.operators[0];
    }
    row.querySelector(".cond-window").hidden = !spec.window;
    row.querySelector(".cond-items").hidden = !spec.takes_items;
    row.querySelector(".unit").textContent = spec.type === "money" ? words.yuan : "";
    const value = row.querySelector(".cond-value");
    value.placeholder = placeholder(spec, op.value);
    if ((spec.choices && spec.choices.length) || spec.type === "bool") value.setAttribute("list", choicesList(spec));
    else value.removeAttribute("list");
    if (factChanged && spec.type === "bool" && !value.value) value.value = words.yes;
    const windowInput = row.querySelector("[name=cond_window]");
    windowInput.placeholder = spec.window === "required" ? "365" : "";
  }

  function fitAction(row) {
    const type = row.querySelector(".act-type").value;
    row.querySelectorAll(".act-params").forEach((p) => { p.hidden = p.dataset.type !== type; });
  }

  function fitEvent() {
    if (!eventSelect) return;
    const ev = eventSelect.value;
    document.querySelectorAll(".cond-fact option").forEach((o) => {
      const f = facts[o.value]; if (f) o.disabled = !f.events.includes(ev);
    });
    document.querySelectorAll(".act-type option").forEach((o) => {
      const a = actions[o.value]; if (a) o.disabled = !a.events.includes(ev);
    });
  }

  function fitRow(row, fresh) {
    if (row.classList.contains("cond-row")) fitCondition(row, fresh);
    if (row.classList.contains("act-row")) fitAction(row);
  }

  function updateEmpty() {
    const rows = byId("cond-rows"), note = document.querySelector(".empty-note");
    if (rows && note) note.hidden = rows.children.length > 0;
  }

  document.addEventListener("click", (e) => {
    const add = e.target.closest("[data-add]");
    if (add) {
      const node = byId(add.dataset.add).content.firstElementChild.cloneNode(true);
      byId(add.dataset.into).appendChild(node);
      fitRow(node, false);
      fitEvent();
      updateEmpty();
      const first = node.querySelector("input, select");
      if (first) first.focus();
      return;
    }
    const remove = e.target.closest(".remove");
    if (remove) {
      remove.closest(".rule-row, tr").remove();
      updateEmpty();
    }
  });

  document.addEventListener("change", (e) => {
    const t = e.target;
    if (t.classList.contains("cond-fact")) fitCondition(t.closest(".cond-row"), true);
    else if (t.classList.contains("cond-op")) fitCondition(t.closest(".cond-row"), false);
    else if (t.classList.contains("act-type")) fitAction(t.closest(".act-row"));
    else if (t === eventSelect) fitEvent();
  });

  document.querySelectorAll(".cond-row, .act-row").forEach((row) => fitRow(row, false));
  fitEvent();
})();
