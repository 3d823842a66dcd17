// Search-as-you-type for town fields (inputs with data-places="1"), on top of a form that works without it.
// Fills the <datalist> the input names in its `list` attribute from GET /places?q=..., and when the
// typed name is exactly one known place, puts that place's id in the form's hidden place_id so the
// server need not ask "Which one?". Anything else clears place_id: the server then resolves the name.
(function () {
  "use strict";

  var DELAY_MS = 200;
  var MIN_LENGTH = 2;

  function fold(text) {
    return (text || "").normalize("NFKD").replace(/[\u0300-\u036f]/g, "").trim().toLowerCase();
  }

  function enhance(input) {
    var list = document.getElementById(input.getAttribute("list") || "");
    var form = input.form;
    if (!list || !form || !window.fetch) {
      return;
    }
    var url = list.getAttribute("data-url") || "/places";
    var placeId = form.querySelector('input[name="place_id"]');
    var results = [];
    var timer = null;
    var latest = 0;

    function pickIfUnique() {
      if (!placeId) {
        return;
      }
      var typed = fold(input.value);
      var same = results.filter(function (place) { return fold(place.name) === typed; });
      placeId.value = same.length === 1 ? String(same[0].id) : "";
    }

    function fill(places) {
      results = places;
      list.replaceChildren.apply(list, places.map(function (place) {
        var option = document.createElement("option");
        option.value = place.name;
        option.label = place.label;
        option.textContent = place.label;
        return option;
      }));
      pickIfUnique();
    }

    function search() {
      var query = input.value.trim();
      if (query.length < MIN_LENGTH) {
        fill([]);
        return;
      }
      var ticket = ++latest;
      fetch(url + "?q=" + encodeURIComponent(query), {headers: {"Accept": "application/json"}})
        .then(function (response) { return response.ok ? response.json() : []; })
        .then(function (places) {
          if (ticket === latest) {  // an older, slower answer must not replace a newer one
            fill(places);
          }
        })
        .catch(function () { /* offline or refused: the form still works without suggestions */ });
    }

    input.addEventListener("input", function () {
      if (placeId) {
        placeId.value = "";
      }
      window.clearTimeout(timer);
      timer = window.setTimeout(search, DELAY_MS);
    });
    input.addEventListener("change", pickIfUnique);
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll('input[data-places="1"]'), enhance);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
