// DINOv2 / iBOT self-supervised training: the batch contract, teacher targets, losses, the
// student/teacher meta-architecture, schedules and configuration.
export { toDeviceBatch, type SSLBatch } from './batch.js';
export { checkBatch } from './batch_check.js';
export { ARCHS, backboneConfig, DEFAULT_SSL_CONFIG, mergeConfig, sslPreset, validateConfig } from './config.js';
export type {
  Arch, Centering, CropsConfig, DinoConfig, HeadConfig, IbotConfig, OptimConfig, PresetName, SSLConfig, SSLConfigPatch, StudentConfig,
  TeacherConfig, TrainConfig,
} from './config.js';
export { dinoLoss, ibotLoss, KOLEO_EPS, koleoLoss, STUDENT_TEMP } from './losses.js';
export type { IbotLossOptions } from './losses.js';
export { SSLMetaArch, SSLModels } from './meta_arch.js';
export type { SSLLosses } from './meta_arch.js';
export { buildSchedules, CosineScheduler, scaledLr } from './schedules.js';
export type { CosineSchedulerOptions, ScheduleValues, Schedules } from './schedules.js';
export { CENTER_MOMENTUM, CenterState, SINKHORN_ITERATIONS, sinkhornKnopp, softmaxCenterTeacher } from './targets.js';
export { augmentationFor, pretrain } from './trainer.js';
export type { PretrainOptions, PretrainResult, StepRecord } from './trainer.js';
