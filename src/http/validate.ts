export { parseBody } from '../auth/validate.js';
