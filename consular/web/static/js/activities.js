// The activity form shows the fields of the chosen kind of place and of the chosen kind of activity
// (a talk's setting, a drill's alert, a patrol's checklist); without this file every field shows.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-activity-form]");
  if (!form) return;
  const place = form.querySelector("select[name=place_kind]");
  const kind = form.querySelector("select[name=kind]");
  const update = () => {
    form.querySelectorAll("[data-place]").forEach((el) => {
      el.hidden = place && el.dataset.place !== place.value;
    });
    form.querySelectorAll("[data-kind]").forEach((el) => {
      el.hidden = kind && el.dataset.kind !== kind.value;
    });
  };
  if (place) place.addEventListener("change", update);
  if (kind) kind.addEventListener("change", update);
  update();
});

// The printable summary's Print button (no inline script: the page's CSP forbids it).
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-print]").forEach((button) => {
    button.addEventListener("click", () => window.print());
  });
});
