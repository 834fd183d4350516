DROP TABLE alerts;
DROP TABLE job_runs;
