//! The console's words: one table keyed by id, Chinese (zh-CN, the default) and English.
//! `?lang=en` or `?lang=zh` on any page switches, and a cookie remembers the choice.

/// A language the console speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub fn parse(text: &str) -> Option<Lang> {
        match text {
            "zh" | "zh-CN" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub const fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The `lang` attribute of the page.
    pub const fn html(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
}

/// (id, zh-CN, en).
const STRINGS: &[(&str, &str, &str)] = &[
    ("app", "燃气钱包控制台", "Gas wallet console"),
    ("sign_in", "登录", "Sign in"),
    ("sign_out", "退出", "Sign out"),
    ("token", "API 令牌", "API token"),
    (
        "token_help",
        "粘贴管理员、财务、客户或商户的 API 令牌。令牌只用于验证身份，不会保存在浏览器中。",
        "Paste an admin, finance, customer or merchant API token. It is checked once and never kept in the browser.",
    ),
    ("bad_token", "令牌无效。", "That token is not valid."),
    ("signed_in_as", "当前身份", "Signed in as"),
    ("role_admin", "管理员", "admin"),
    ("role_finance", "财务", "finance"),
    ("role_customer", "客户", "customer"),
    ("role_merchant", "商户", "merchant"),
    ("role_technician", "技师", "technician"),
    ("role_concentrator", "集中器", "concentrator"),
    ("no_console", "此角色没有控制台页面。", "This role has no console pages."),
    ("error", "出错了", "Something went wrong"),
    ("forbidden", "无权访问", "Forbidden"),
    ("not_found", "未找到", "Not found"),
    ("back", "返回", "Back"),
    // Navigation.
    ("nav_wallet", "钱包", "Wallet"),
    ("nav_bills", "电子账单", "E-bills"),
    ("nav_statement", "对账单", "Statement"),
    ("nav_pay_code", "付款码", "Payment code"),
    ("nav_customers", "客户", "Customers"),
    ("nav_merchant", "收款", "Take payments"),
    ("nav_settlement_reports", "结算报表", "Settlement reports"),
    ("nav_dashboard", "今日概览", "Today"),
    ("nav_trial_balance", "试算平衡表", "Trial balance"),
    ("nav_reconciliation", "对账", "Reconciliation"),
    ("nav_batches", "结算与付款批次", "Settlement & payouts"),
    ("nav_disputes", "争议处理", "Disputes"),
    ("nav_verify", "账本校验", "Journal verify"),
    ("nav_credit", "信用评分", "Credit profiles"),
    // Wallet.
    ("balance", "余额", "Balance"),
    ("available", "可用", "Available"),
    ("held", "冻结", "Held"),
    ("arrears", "欠费", "Arrears"),
    ("credit_limit", "信用额度", "Credit limit"),
    ("valve", "阀门", "Valve"),
    ("valve_open", "开启", "open"),
    ("valve_closed", "已关闭", "closed"),
    ("valve_armed", "待开启", "armed"),
    ("valve_next_open", "供气正常，无需操作。", "Gas is on; nothing to do."),
    (
        "valve_next_closed",
        "余额不足已关阀：请充值以结清欠费，之后按下表上的按钮恢复供气。",
        "Closed for non-payment: top up to clear the arrears, then press the button on the meter.",
    ),
    (
        "valve_next_armed",
        "欠费已结清：请到燃气表前按下按钮恢复供气（出于安全考虑）。",
        "Arrears are paid: press the button on the meter to turn the gas back on (for safety).",
    ),
    ("consumption", "月度用气量（按阶梯）", "Gas by month (by tier)"),
    ("tier", "阶梯", "Tier"),
    ("tier_progress", "年度阶梯进度", "Annual tier progress"),
    ("annual_volume", "本阶梯年度累计用气", "Volume this tier year"),
    ("to_next_tier", "距下一阶梯", "To the next tier"),
    ("top_tier", "已在最高阶梯", "In the top tier"),
    ("no_bills", "暂无账单。", "No bills yet."),
    // Bills.
    ("bill", "账单", "Bill"),
    ("period", "计费期间", "Period"),
    ("readings", "读数", "Readings"),
    ("volume", "用气量 (m³)", "Volume (m³)"),
    ("unit_price", "单价 (元/m³)", "Unit price (CNY/m³)"),
    ("amount", "金额 (元)", "Amount (CNY)"),
    ("total", "合计", "Total"),
    ("paid_from_wallet", "钱包支付", "Paid from wallet"),
    ("added_to_arrears", "计入欠费", "Added to arrears"),
    ("issued_at", "出账时间", "Issued"),
    ("details", "详情", "Details"),
    // Statement.
    ("time", "时间", "Time"),
    ("kind", "类型", "Kind"),
    ("balance_after", "变动后余额", "Balance after"),
    ("memo", "备注", "Memo"),
    ("next_page", "下一页", "Next page"),
    ("empty", "暂无记录。", "Nothing yet."),
    // Payment code.
    (
        "pay_code_help",
        "生成一次性付款码（约 60 秒有效），向商户出示二维码。",
        "Get a one-time payment code (valid about 60 s) and show the QR code to the merchant.",
    ),
    ("max_amount", "最高金额（可选）", "Maximum amount (optional)"),
    ("get_code", "生成付款码", "Get a code"),
    ("code", "付款码", "Payment code"),
    ("expires_at", "有效期至", "Expires at"),
    // Merchant.
    ("charge", "收款", "Charge"),
    ("charge_help", "输入或扫描客户的付款码。", "Type or scan the customer's payment code."),
    ("order_ref", "订单号", "Order reference"),
    ("charged", "已收款", "Charged"),
    ("payments", "收款记录", "Payments"),
    ("refund", "退款", "Refund"),
    ("refunded", "已退款", "Refunded"),
    ("status", "状态", "Status"),
    ("date", "日期", "Date"),
    ("show", "查看", "Show"),
    ("download_csv", "下载 CSV", "Download CSV"),
    ("not_settled", "该日尚未结算。", "That day is not settled."),
    ("merchant", "商户", "Merchant"),
    ("gross", "交易额", "Gross"),
    ("fees", "手续费", "Fees"),
    ("net", "净额", "Net"),
    ("payout", "付款", "Payout"),
    // Finance.
    ("today", "今日（北京时间）", "Today (Beijing time)"),
    ("topups_by_channel", "各渠道充值", "Top-ups by channel"),
    ("gas_by_tier", "各阶梯燃气收入", "Gas billed by tier"),
    ("wallet_liability", "钱包负债", "Wallet liability"),
    ("payouts", "付款", "Payouts"),
    ("channel", "渠道", "Channel"),
    ("count", "笔数", "Count"),
    ("as_of", "截至", "As of"),
    ("code_col", "科目", "Code"),
    ("account_name", "名称", "Name"),
    ("opening", "期初", "Opening"),
    ("debits", "借方", "Debits"),
    ("credits", "贷方", "Credits"),
    ("closing", "期末", "Closing"),
    ("balanced", "借贷平衡", "Balanced"),
    ("not_balanced", "借贷不平衡！", "NOT balanced!"),
    ("upload", "上传对账单", "Upload a statement"),
    ("format", "格式", "Format"),
    ("format_generic", "通用 CSV", "Generic CSV"),
    ("format_wechat", "微信支付账单", "WeChat Pay bill"),
    ("format_alipay", "支付宝账单 (GBK)", "Alipay bill (GBK)"),
    ("statement_file", "对账单文件", "Statement file"),
    ("date_optional", "业务日期（可选）", "Business day (optional)"),
    ("reconcile", "开始对账", "Reconcile"),
    ("reconciliations", "对账记录", "Reconciliations"),
    ("matched", "一致", "Matched"),
    ("overage", "长款", "Overage"),
    ("shortage", "短款", "Shortage"),
    ("amount_mismatch", "金额不一致", "Amount mismatch"),
    ("status_mismatch", "状态不一致", "Status mismatch"),
    ("statement_side", "对账单", "Statement"),
    ("ledger_side", "账本", "Ledger"),
    ("breaks", "差异", "Breaks"),
    ("open_breaks", "未处理差异", "Open breaks"),
    ("txn", "渠道交易号", "Channel transaction"),
    ("resolve", "处理", "Resolve"),
    ("resolved", "已处理", "Resolved"),
    ("open", "未处理", "Open"),
    ("action", "处理方式", "Action"),
    ("action_adjust", "调账", "Adjust"),
    ("action_refund", "退款", "Refund"),
    ("action_write_off", "核销", "Write off"),
    ("note", "说明", "Note"),
    ("wallet_id", "钱包 ID", "Wallet id"),
    ("settle_merchants", "商户结算 (T+1)", "Settle merchants (T+1)"),
    ("pay_technicians", "技师付款", "Pay technicians"),
    ("from", "从", "From"),
    ("to", "至", "To"),
    ("run", "执行", "Run"),
    ("batch", "批次", "Batch"),
    ("technician", "技师", "Technician"),
    ("orders", "订单数", "Orders"),
    ("disputes", "待处理争议", "Open disputes"),
    ("service", "服务", "Service"),
    ("price", "价格", "Price"),
    ("stars", "评分", "Stars"),
    ("comment", "评价", "Comment"),
    ("pay_in_full", "全额付款", "Pay in full"),
    ("partial_refund", "部分退款", "Partial refund"),
    ("full_refund", "全额退款", "Full refund"),
    ("refund_amount", "退款金额", "Refund amount"),
    (
        "verify_help",
        "重新计算哈希链、签名与每个账户余额。",
        "Recompute the hash chain, the signatures and every balance.",
    ),
    ("verify", "开始校验", "Verify"),
    ("verify_ok", "账本完整：未发现篡改。", "The journal is intact: no tampering found."),
    ("verify_failed", "账本校验失败！", "Journal verification FAILED!"),
    ("entries_checked", "已校验记录", "Records checked"),
    ("head_hash", "链头哈希", "Head hash"),
    ("customer_id", "客户 ID", "Customer id"),
    ("look_up", "查询", "Look up"),
    ("score", "评分", "Score"),
    ("grade", "等级", "Grade"),
    ("reasons", "原因", "Reasons"),
    ("points", "扣分", "Points"),
    ("model_version", "模型版本", "Model version"),
    ("score_distribution", "评分分布", "Score distribution"),
    ("customers", "客户数", "Customers"),
    ("name", "名称", "Name"),
    ("done", "完成", "Done"),
];

/// The text of `id` in `lang` (the id itself if the table lacks it, which a test forbids).
pub fn t(lang: Lang, id: &str) -> &'static str {
    for (key, zh, en) in STRINGS {
        if *key == id {
            return match lang {
                Lang::Zh => zh,
                Lang::En => en,
            };
        }
    }
    "?"
}

/// Whether the table has `id` (for the test that every id used is there).
pub fn has(id: &str) -> bool {
    STRINGS.iter().any(|(key, _, _)| *key == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_is_unique_and_has_both_languages() {
        let mut seen = std::collections::HashSet::new();
        for (key, zh, en) in STRINGS {
            assert!(seen.insert(*key), "{key} twice");
            assert!(!zh.is_empty() && !en.is_empty(), "{key} lacks a language");
        }
        assert_eq!(t(Lang::Zh, "sign_in"), "登录");
        assert_eq!(t(Lang::En, "sign_in"), "Sign in");
        assert!(has("app") && !has("no such id"));
    }
}
