// Discretion console: the only script. The pages work without it; it adds live suggestions to
// the country/region search boxes (inputs with data-locale-search naming their datalist).
"use strict";
(function () {
  function attach(input) {
    var list = document.getElementById(input.getAttribute("data-locale-search"));
    if (!list) return;
    input.setAttribute("list", list.id);
    var timer = null, last = "";
    input.addEventListener("input", function () {
      var q = input.value.trim();
      if (q.length < 2 || q === last) return;
      last = q;
      clearTimeout(timer);
      timer = setTimeout(function () {
        fetch("/console/locales?q=" + encodeURIComponent(q), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : { places: [] }; })
          .then(function (body) {
            list.textContent = "";
            body.places.forEach(function (p) {
              var option = document.createElement("option");
              option.value = p.code;
              option.label = p.name + (p.kind === "Country" ? "" : " (" + p.country + ")");
              list.appendChild(option);
            });
          })
          .catch(function () { /* suggestions are a convenience; the form still works */ });
      }, 150);
    });
  }
  document.querySelectorAll("input[data-locale-search]").forEach(attach);
})();
