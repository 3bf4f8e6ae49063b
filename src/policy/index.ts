export { classify, requiredScope, actionTarget, type McpAction, type AccessLevel, type CompletionRef } from './actions.js';
export { evaluate, visibility, compileGroup, hasMcpScope, type Decision, type DenyReason, type PolicySubject, type PolicyGroup, type Visibility } from './evaluate.js';
