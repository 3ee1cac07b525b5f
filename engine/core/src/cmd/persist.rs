//! Persistence commands: SAVE, BGSAVE, LASTSAVE, BGREWRITEAOF, and the INFO
//! persistence section. The work itself is in crate::persist.

use std::fmt::Write;

use super::Ctx;
use crate::error::{CmdError, CmdResult};
use crate::persist::{self, JobKind};
use crate::util::eq_ic;

pub fn save(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    if ctx.persist.job_kind() == Some(JobKind::Rdb) {
        return Err(CmdError::msg("ERR Background save already in progress"));
    }
    match persist::rdb_save(ctx.ks, ctx.persist, ctx.cfg, ctx.env) {
        Ok(()) => {
            ctx.effects
                .log
                .push((crate::server::LogLevel::Notice, "DB saved on disk".into()));
            ctx.out.ok();
            Ok(())
        }
        Err(e) => {
            ctx.effects.log.push((
                crate::server::LogLevel::Warning,
                format!("Failed saving the DB: {e}"),
            ));
            Err(CmdError::msg("ERR"))
        }
    }
}

pub fn bgsave(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut schedule = false;
    if argv.len() > 1 {
        if argv.len() == 2 && eq_ic(argv[1], "schedule") {
            schedule = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    match ctx.persist.job_kind() {
        Some(JobKind::Rdb | JobKind::ReplSync) => {
            Err(CmdError::msg("ERR Background save already in progress"))
        }
        Some(JobKind::AofRewrite) => {
            if schedule {
                ctx.persist.rdb.scheduled = true;
                ctx.out.simple("Background saving scheduled");
                Ok(())
            } else {
                Err(CmdError::msg(
                    "ERR An AOF log rewriting in progress: can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.",
                ))
            }
        }
        None => match persist::bgsave_start(ctx.ks, ctx.persist, ctx.cfg, ctx.env) {
            Ok(()) => {
                ctx.effects.log.push((
                    crate::server::LogLevel::Notice,
                    "Background saving started".into(),
                ));
                ctx.out.simple("Background saving started");
                Ok(())
            }
            Err(e) => {
                ctx.effects.log.push((
                    crate::server::LogLevel::Warning,
                    format!("Can't save in background: {e}"),
                ));
                Err(CmdError::msg("ERR"))
            }
        },
    }
}

pub fn lastsave(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.persist.rdb.lastsave_s);
    Ok(())
}

pub fn bgrewriteaof(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    match ctx.persist.job_kind() {
        Some(JobKind::AofRewrite) => Err(CmdError::msg(
            "ERR Background append only file rewriting already in progress",
        )),
        Some(JobKind::Rdb | JobKind::ReplSync) => {
            ctx.persist.aof_status.rewrite_scheduled = true;
            ctx.out
                .simple("Background append only file rewriting scheduled");
            Ok(())
        }
        None => {
            if ctx.persist.aof.is_none() {
                // Redis rewrites even with AOF off (it writes a file); redsim
                // only rewrites a live AOF.
                return Err(CmdError::msg(
                    "ERR Background append only file rewriting error: appendonly is off",
                ));
            }
            match persist::rewrite_start(ctx.ks, ctx.persist, ctx.cfg, ctx.env) {
                Ok(()) => {
                    ctx.out
                        .simple("Background append only file rewriting started");
                    Ok(())
                }
                Err(e) => {
                    ctx.effects.log.push((
                        crate::server::LogLevel::Warning,
                        format!("Can't rewrite append only file in background: {e}"),
                    ));
                    Err(CmdError::msg("ERR Can't execute an AOF background rewriting. Please check the server logs for more information."))
                }
            }
        }
    }
}

/// INFO persistence, Redis 7.0's fields in Redis's order.
pub fn info_section(ctx: &Ctx, o: &mut String) {
    macro_rules! f {
        ($($arg:tt)*) => {{ let _ = write!(o, $($arg)*); o.push_str("\r\n"); }};
    }
    let p = &*ctx.persist;
    let now = ctx.ks.now_ms;
    let job = p.job.as_ref();
    let rdb_job = job.filter(|j| j.kind == JobKind::Rdb);
    let aof_job = job.filter(|j| j.kind == JobKind::AofRewrite);
    let (processed, total) = match (job, ctx.ks.snapshot.as_ref()) {
        (Some(_), Some(s)) => (
            s.records,
            ctx.ks.dbs.iter().map(|d| d.table.len() as u64).sum(),
        ),
        _ => (0, 0),
    };
    f!("# Persistence");
    f!("loading:{}", u8::from(p.loading));
    f!("async_loading:0");
    f!("current_cow_peak:0");
    f!("current_cow_size:0");
    f!("current_cow_size_age:0");
    f!("current_fork_perc:0.00");
    f!("current_save_keys_processed:{processed}");
    f!("current_save_keys_total:{total}");
    f!("rdb_changes_since_last_save:{}", ctx.ks.dirty);
    f!("rdb_bgsave_in_progress:{}", u8::from(rdb_job.is_some()));
    f!("rdb_last_save_time:{}", p.rdb.lastsave_s);
    f!(
        "rdb_last_bgsave_status:{}",
        if p.rdb.last_bgsave_ok { "ok" } else { "err" }
    );
    f!("rdb_last_bgsave_time_sec:{}", p.rdb.last_bgsave_secs);
    f!(
        "rdb_current_bgsave_time_sec:{}",
        rdb_job.map_or(-1, |j| (now - j.started_ms) / 1000)
    );
    f!("rdb_saves:{}", p.rdb.saves);
    f!("rdb_last_cow_size:0");
    f!(
        "rdb_last_load_keys_expired:{}",
        p.rdb.last_load_keys_expired
    );
    f!("rdb_last_load_keys_loaded:{}", p.rdb.last_load_keys_loaded);
    f!("aof_enabled:{}", u8::from(p.aof.is_some()));
    f!("aof_rewrite_in_progress:{}", u8::from(aof_job.is_some()));
    f!(
        "aof_rewrite_scheduled:{}",
        u8::from(p.aof_status.rewrite_scheduled)
    );
    f!(
        "aof_last_rewrite_time_sec:{}",
        p.aof_status.last_rewrite_secs
    );
    f!(
        "aof_current_rewrite_time_sec:{}",
        aof_job.map_or(-1, |j| (now - j.started_ms) / 1000)
    );
    f!(
        "aof_last_bgrewrite_status:{}",
        if p.aof_status.last_rewrite_ok {
            "ok"
        } else {
            "err"
        }
    );
    f!("aof_rewrites:{}", p.aof_status.rewrites);
    f!(
        "aof_rewrites_consecutive_failures:{}",
        p.aof_status.consecutive_failures
    );
    let write_ok = p.aof.as_ref().is_none_or(|a| a.misconf_errno().is_none());
    f!(
        "aof_last_write_status:{}",
        if write_ok { "ok" } else { "err" }
    );
    f!("aof_last_cow_size:0");
    f!("module_fork_in_progress:0");
    f!("module_fork_last_cow_size:0");
    if let Some(a) = p.aof.as_ref() {
        let st = a.stats(now);
        f!("aof_current_size:{}", st.aof_current_size);
        f!("aof_base_size:{}", st.aof_base_size);
        f!(
            "aof_pending_rewrite:{}",
            u8::from(p.aof_status.rewrite_scheduled)
        );
        f!("aof_buffer_length:{}", st.aof_buffer_length);
        f!("aof_pending_bio_fsync:0");
        f!("aof_delayed_fsync:{}", st.aof_delayed_fsync);
    }
    if p.loading {
        // Redis's formulas (seconds, ETA from the average rate so far).
        let lp = p.load_progress;
        let (perc, remaining) = if lp.total_bytes > 0 {
            (
                lp.loaded_bytes as f64 / lp.total_bytes as f64 * 100.0,
                lp.total_bytes.saturating_sub(lp.loaded_bytes),
            )
        } else {
            (0.0, 1)
        };
        let elapsed = ((now - lp.start_ms) / 1000).max(0) as u64;
        let eta = if elapsed == 0 {
            1
        } else {
            elapsed.saturating_mul(remaining) / (lp.loaded_bytes + 1)
        };
        f!("loading_start_time:{}", lp.start_ms / 1000);
        f!("loading_total_bytes:{}", lp.total_bytes);
        f!("loading_rdb_used_mem:0");
        f!("loading_loaded_bytes:{}", lp.loaded_bytes);
        f!("loading_loaded_perc:{perc:.2}");
        f!("loading_eta_seconds:{eta}");
    }
}
