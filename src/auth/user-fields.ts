import { z } from 'zod';
import { PASSWORD_MAX, PASSWORD_MIN } from './passwords.js';

/** Field rules shared by registration, admin user creation and the CLI. */
export const emailSchema = z.string().trim().max(254).email('must be an email address');
export const passwordSchema = z.string().min(PASSWORD_MIN, `must be at least ${PASSWORD_MIN} characters`).max(PASSWORD_MAX);
export const usernameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$/, 'must be 2-64 letters, digits, _ . -');
