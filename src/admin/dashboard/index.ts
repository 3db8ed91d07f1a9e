// The dashboard's assets, as strings: `npm run build` compiles only .ts, so keeping them in
// modules makes them work the same from src/ (tests) and dist/ (npm start).
export { PAGE_HTML } from './page.js';
export { STYLE_CSS } from './style.js';
export { CLIENT_JS } from './client.js';
