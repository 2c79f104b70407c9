// Discretion console: the only script. The pages work without it; it adds live suggestions from
// the server to search boxes: inputs with data-locale-search (countries and regions) or
// data-org-search (registered organizations, matched on names, aliases, domains and ids as the
// broker compares them) name the datalist they fill.
"use strict";
(function () {
  var sources = {
    "data-locale-search": {
      url: "/console/locales?q=",
      options: function (body) {
        return body.places.map(function (p) {
          return { value: p.code, label: p.name + (p.kind === "Country" || p.kind === "Group" ? "" : " (" + p.country + ")") };
        });
      }
    },
    "data-org-search": {
      url: "/console/organizations?q=",
      options: function (body) {
        return body.organizations.map(function (o) {
          var also = [o.id].concat(o.aliases, o.domains).join(", ");
          return { value: o.name, label: o.name + " (" + also + ")" };
        });
      }
    }
  };
  function attach(input, attribute) {
    var source = sources[attribute];
    var list = document.getElementById(input.getAttribute(attribute));
    if (!list) return;
    input.setAttribute("list", list.id);
    var timer = null, last = "";
    input.addEventListener("input", function () {
      var q = input.value.trim();
      if (q.length < 2 || q === last) return;
      last = q;
      clearTimeout(timer);
      timer = setTimeout(function () {
        fetch(source.url + encodeURIComponent(q), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (body) {
            if (!body) return;
            list.textContent = "";
            source.options(body).forEach(function (o) {
              var option = document.createElement("option");
              option.value = o.value;
              option.label = o.label;
              list.appendChild(option);
            });
          })
          .catch(function () { /* suggestions are a convenience; the form still works */ });
      }, 150);
    });
  }
  Object.keys(sources).forEach(function (attribute) {
    document.querySelectorAll("input[" + attribute + "]").forEach(function (input) { attach(input, attribute); });
  });
})();
