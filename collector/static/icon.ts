// The pages' icon (a lifebuoy), served as /static/icon.svg and as /favicon.ico, which
// browsers ask for whatever the page links: an SVG with its own type, no binary to keep.
export const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><circle cx="16" cy="16" r="12" fill="none" stroke="#14213d" stroke-width="7"/><circle cx="16" cy="16" r="12" fill="none" stroke="#e4572e" stroke-width="7" stroke-dasharray="9.42 9.42"/></svg>`;
