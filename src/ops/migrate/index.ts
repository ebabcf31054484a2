// acmg migrate: plan (plan.ts), steps (steps.ts), apply with its failure policy (apply.ts).
export { planMigration, SYSTEM_NAMESPACES, type Candidate, type MigratePlan, type MigrateRequest, type Selection } from './plan.js';
export { describeMigration, migrationSteps, MIGRATION_STEP_NAMES, type MigrateRuntime, type MigrationStep, type MigrationStepName } from './steps.js';
export { applyMigration, type MigrateResult } from './apply.js';
