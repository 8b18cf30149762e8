package simulate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"effidx/event"
)

// Department is a municipal department. Quality is centred on 0 (weighted by
// service volume): about +1 is clearly better than the city, −1 clearly worse.
type Department struct {
	Code, Name string
	Quality    float64
}

// Region is a county-level division; Quality works like Department.Quality
// with a smaller effect.
type Region struct {
	Code, Name string
	Quality    float64
}

// Step is a handling step of a matter in another department.
type Step struct {
	Department string // department code
	Type       event.StepType
	LimitDays  int
}

// Matter is a service matter (事项) or, with Internal, a 机关内部事项.
// LegalDays and PromisedDays are working days, event.Absent (−1) when the
// matter has no such limit (无期限); PromisedDays 0 is an instant matter.
type Matter struct {
	Code, Name, Department string
	Internal               bool
	LegalDays              int
	PromisedDays           int
	Materials              int     // required materials per case
	SharedBase             float64 // typical share of materials taken from data sharing
	Steps                  []Step  // steps in other departments
	Weight                 float64 // share of its kind's daily volume (sums to 1 per kind)
}

// City is the static part of the simulation.
type City struct {
	Departments []Department
	Regions     []Region
	Matters     []Matter

	// Derived model, indexed like the exported slices.
	deptOf    []int // matter → department index
	steps     [][]stepModel
	staff     [][]string // department → staff names
	deptLate  []float64  // department lateness multiplier, mean 1 by service volume
	regLate   []float64
	regWeight []float64
	service   sampler // matter indexes of service matters
	internal  sampler
	tickets   sampler // department indexes
	regions   sampler
	scenarios []scenarioType
	scenPick  sampler
	bundles   []bundle
	taskNames []string
}

type stepModel struct {
	dept  int
	typ   event.StepType
	limit int
}

type scenarioType struct {
	code, name string
	dept       int
	collab     []int
}

type bundle struct {
	name    string
	matters []int
}

// sampler draws an index with probability proportional to its weight.
type sampler struct {
	idx []int
	cum []float64
}

func newSampler(idx []int, w []float64) sampler {
	s := sampler{idx: idx, cum: make([]float64, len(w))}
	t := 0.0
	for i, x := range w {
		t += x
		s.cum[i] = t
	}
	for i := range s.cum {
		s.cum[i] /= t
	}
	return s
}

func (s *sampler) pick(r *rand.Rand) int {
	u := r.Float64()
	i := sort.SearchFloat64s(s.cum, u)
	if i >= len(s.idx) {
		i = len(s.idx) - 1
	}
	return s.idx[i]
}

// deptTable: name, relative service volume, relative 12345 volume, and the
// service matters as "subject:variant,variant;subject;…" (a matter per
// variant, named "subject（variant）").
var deptTable = []struct {
	name    string
	vol     float64
	tickets float64
	matters string
}{
	{"市发展和改革委员会", 0.8, 1, "企业投资项目核准:新办,变更;企业投资项目备案:新办,变更;固定资产投资项目节能审查;粮食收购资格备案"},
	{"市经济和信息化局", 0.6, 0.8, "技术改造项目备案:新办,变更;工业企业技改资金申报;软件企业认定;电力设施保护区施工作业审批"},
	{"市教育局", 2, 4, "教师资格认定;民办学校设立审批:新办,变更;学历证明开具;中小学转学申请;校外培训机构审批:新办,变更,注销"},
	{"市科学技术局", 0.5, 0.3, "高新技术企业认定;科技型中小企业评价;技术合同认定登记;外国人来华工作许可:新办,延续,注销"},
	{"市公安局", 8, 5, "户口登记:出生,迁入,迁出;居民身份证:首次申领,换领,补领;公章刻制备案;机动车驾驶证:换证,补证;无犯罪记录证明;居住证:申领,签注;出入境证件:首次申领,换发"},
	{"市民政局", 3, 2, "婚姻登记:结婚,离婚,补领;社会团体登记:成立,变更,注销;养老机构备案;最低生活保障审批;民办非企业单位登记:成立,变更"},
	{"市司法局", 0.8, 1, "律师执业许可:新办,变更,注销;公证员执业审批;法律援助申请;基层法律服务工作者执业核准"},
	{"市财政局", 0.6, 0.5, "代理记账许可:新办,变更,注销;政府采购供应商登记;会计人员信息采集"},
	{"市人力资源和社会保障局", 9, 6, "社会保险登记:单位登记,单位注销;社会保障卡:申领,补换;退休审批;失业保险金申领;人力资源服务许可:新办,变更;社保缴费证明;工伤认定;职业技能补贴申领;就业创业证:申领,补办"},
	{"市自然资源和规划局", 8, 3, "建设用地规划许可证核发;建设工程规划许可证核发:新办,变更;不动产登记:首次登记,转移登记,抵押登记,抵押注销,变更登记;不动产登记信息查询;建设项目用地预审"},
	{"市生态环境局", 1.5, 4, "建设项目环境影响评价审批:报告书,报告表;排污许可证:新办,变更,延续;危险废物经营许可;辐射安全许可:新办,延续"},
	{"市住房和城乡建设局", 4, 6, "建筑工程施工许可证核发:新办,变更;商品房预售许可;商品房网签备案;建筑业企业资质:新办,延续,变更;房屋交易信息查询;住房保障资格审核"},
	{"市交通运输局", 4, 4, "道路运输经营许可:新办,变更,延续;道路运输证:配发,换证,注销;网约车驾驶员证:新办,补证;公路超限运输许可;出租汽车驾驶员从业资格:注册,注销"},
	{"市水利局", 0.8, 1, "取水许可:新办,延续;水土保持方案审批;河道管理范围内建设项目审批;农村供水工程验收"},
	{"市农业农村局", 1.5, 2, "农药经营许可:新办,变更;兽药经营许可:新办,延续;农村宅基地审批;动物防疫条件合格证核发;种子生产经营许可:新办,变更"},
	{"市商务局", 0.8, 1, "对外贸易经营者备案;单用途预付卡备案;酒类流通备案;二手车交易市场备案"},
	{"市文化和广电旅游体育局", 1, 1.5, "营业性演出审批;娱乐场所经营许可:新办,变更;旅行社设立许可;高危险性体育项目经营许可;网吧经营许可:新办,变更,注销"},
	{"市卫生健康委员会", 4, 3, "医疗机构执业许可:新办,变更,校验;医师执业注册:首次注册,变更注册;出生医学证明:签发,补发;公共场所卫生许可:新办,变更,延续;护士执业注册:首次注册,延续注册"},
	{"市退役军人事务局", 0.8, 0.8, "退役士兵安置;优待证申领;伤残抚恤申请;退役军人信息采集"},
	{"市应急管理局", 0.8, 1, "危险化学品经营许可:新办,变更,延续;安全生产许可;烟花爆竹经营许可:新办,延续;特种作业操作证:复审,补证"},
	{"市审计局", 0.1, 0.2, "审计报告查询"},
	{"市市场监督管理局", 10, 6, "营业执照:设立登记,变更登记,注销登记;食品经营许可证:新办,变更,延续,注销;食品生产许可证:新办,变更,延续;特种设备使用登记;药品零售许可:新办,变更;工业产品生产许可证;医疗器械经营备案;计量器具型式批准"},
	{"市统计局", 0.2, 0.2, "统计数据查询;统计调查项目审批"},
	{"市医疗保障局", 8, 3, "基本医疗保险参保登记:新生儿,灵活就业,退休人员;异地就医备案;医疗费用零星报销;定点医疗机构申请;医保关系转移;门诊慢特病认定"},
	{"市综合行政执法局", 1.5, 8, "城市建筑垃圾处置核准;户外广告设施设置审批:新办,延续;占用城市道路审批;临时占用绿地审批;城市道路挖掘审批"},
	{"市林业局", 0.8, 0.8, "林木采伐许可;使用林地审核同意;木材运输证;林权登记信息查询"},
	{"市人民防空办公室", 0.4, 0.2, "人防工程建设审批;人防工程竣工验收备案;防空地下室易地建设审批"},
	{"市机关事务管理局", 0.1, 0.2, "公共机构节能审查"},
	{"市信访局", 0.1, 0.5, "信访事项复查申请"},
	{"市大数据发展管理局", 0.5, 0.3, "公共数据开放申请;电子证照查询"},
	{"市政务服务管理办公室", 3, 2, "政务服务帮办代办;证照打印;工程建设项目联合验收"},
	{"市税务局", 6, 3, "发票申领:首次,增量;清税证明;契税申报;个人所得税完税证明;税务登记:新办,变更;纳税信用修复"},
	{"市住房公积金管理中心", 6, 2, "住房公积金提取:购房,租房,退休,离职;住房公积金贷款:申请,结清;单位缴存登记:开户,变更;缴存证明"},
	{"市消防救援支队", 1, 1.5, "公众聚集场所投入使用营业前消防安全检查;建设工程消防验收:验收,备案"},
	{"市气象局", 0.3, 0.3, "防雷装置设计审核;防雷装置竣工验收;升放无人驾驶自由气球审批"},
	{"市烟草专卖局", 1.5, 0.5, "烟草专卖零售许可证:新办,延续,变更,注销"},
	{"市邮政管理局", 0.3, 1, "快递业务经营许可:新办,变更;快递末端网点备案"},
	{"市档案馆", 1, 0.3, "档案查阅利用;婚姻档案证明"},
	{"市残疾人联合会", 1.5, 0.8, "残疾人证:新办,换领,迁移;残疾人两项补贴"},
	{"市民族宗教事务委员会", 0.3, 0.3, "宗教活动场所设立审批;少数民族身份证明"},
}

// internalTable: 机关内部事项 by owning department.
var internalTable = []struct{ dept, name string }{
	{"市发展和改革委员会", "政府投资项目可行性研究报告审批"},
	{"市发展和改革委员会", "重大项目协调会商"},
	{"市经济和信息化局", "企业用电用能数据协查"},
	{"市教育局", "教师编制核定协查"},
	{"市公安局", "户籍信息协查"},
	{"市公安局", "违法犯罪记录协查"},
	{"市民政局", "婚姻登记信息协查"},
	{"市司法局", "行政规范性文件合法性审查"},
	{"市司法局", "重大行政决策合法性审查"},
	{"市财政局", "财政资金拨付审核"},
	{"市财政局", "政府采购预算调整审批"},
	{"市财政局", "国有资产处置审批"},
	{"市人力资源和社会保障局", "事业单位人员聘用备案"},
	{"市人力资源和社会保障局", "社保参保信息协查"},
	{"市自然资源和规划局", "不动产权属信息协查"},
	{"市自然资源和规划局", "建设项目用地预审意见"},
	{"市生态环境局", "环境违法信息协查"},
	{"市住房和城乡建设局", "建设项目竣工联合验收协调"},
	{"市交通运输局", "交通建设项目资金审核"},
	{"市审计局", "审计整改情况移送"},
	{"市审计局", "经济责任审计结果通报"},
	{"市市场监督管理局", "企业登记信息协查"},
	{"市市场监督管理局", "信用修复协同核查"},
	{"市统计局", "统计数据核验"},
	{"市医疗保障局", "医保参保信息协查"},
	{"市税务局", "纳税信息协查"},
	{"市住房公积金管理中心", "公积金缴存信息协查"},
	{"市机关事务管理局", "公务用车使用审批"},
	{"市机关事务管理局", "办公用房调配审批"},
	{"市机关事务管理局", "公共机构节能改造审核"},
	{"市信访局", "信访事项转送交办"},
	{"市大数据发展管理局", "公共数据共享申请"},
	{"市大数据发展管理局", "政务云资源申请"},
	{"市大数据发展管理局", "信息系统上线审批"},
	{"市政务服务管理办公室", "进驻事项调整审核"},
	{"市档案馆", "机关档案移交接收"},
	{"市应急管理局", "安全生产联合执法协调"},
	{"市综合行政执法局", "执法案件移送"},
	{"市退役军人事务局", "退役军人信息协查"},
	{"市卫生健康委员会", "出生医学信息协查"},
}

// Departments that typically take part in joint approvals as consulted or
// countersigning parties.
var approverNames = []string{
	"市自然资源和规划局", "市住房和城乡建设局", "市生态环境局", "市消防救援支队", "市人民防空办公室",
	"市交通运输局", "市水利局", "市应急管理局", "市公安局", "市卫生健康委员会",
	"市文化和广电旅游体育局", "市林业局", "市发展和改革委员会", "市气象局", "市综合行政执法局",
}

var scenarioTable = []struct {
	name   string
	dept   string
	collab []string
}{
	{"道路积水", "市住房和城乡建设局", []string{"市交通运输局", "市应急管理局"}},
	{"占道经营", "市综合行政执法局", []string{"市市场监督管理局"}},
	{"井盖缺失破损", "市住房和城乡建设局", []string{"市综合行政执法局"}},
	{"违章搭建", "市综合行政执法局", []string{"市自然资源和规划局", "市住房和城乡建设局"}},
	{"噪声扰民", "市生态环境局", []string{"市公安局", "市综合行政执法局"}},
	{"河道漂浮物", "市水利局", []string{"市生态环境局"}},
	{"燃气泄漏隐患", "市应急管理局", []string{"市住房和城乡建设局", "市消防救援支队"}},
	{"交通信号灯故障", "市公安局", []string{"市交通运输局"}},
	{"山体滑坡隐患", "市自然资源和规划局", []string{"市应急管理局", "市交通运输局"}},
	{"森林火情", "市林业局", []string{"市应急管理局", "市消防救援支队"}},
	{"食品安全事件处置", "市市场监督管理局", []string{"市卫生健康委员会"}},
	{"渣土车违规运输", "市综合行政执法局", []string{"市交通运输局", "市公安局"}},
}

var bundleTable = []struct {
	name    string
	matters []string
}{
	{"开办企业一件事", []string{"营业执照（设立登记）", "公章刻制备案", "发票申领（首次）", "社会保险登记（单位登记）", "单位缴存登记（开户）"}},
	{"出生一件事", []string{"出生医学证明（签发）", "户口登记（出生）", "基本医疗保险参保登记（新生儿）", "社会保障卡（申领）"}},
	{"退休一件事", []string{"退休审批", "基本医疗保险参保登记（退休人员）", "住房公积金提取（退休）"}},
	{"二手房交易登记一件事", []string{"房屋交易信息查询", "契税申报", "不动产登记（转移登记）"}},
	{"企业注销一件事", []string{"营业执照（注销登记）", "清税证明", "社会保险登记（单位注销）"}},
}

var taskNames = []string{
	"深化“最多跑一次”改革", "推进机关内部“最多跑一次”", "“一件事”集成改革", "数字化改革重大应用建设",
	"营商环境优化提升行动", "证明事项告知承诺制", "政务服务2.0迭代升级", "公共数据平台治理",
	"“浙里办”掌上办事提升", "基层智治系统建设", "行政审批中介服务规范", "信用监管体系建设",
	"“无证明城市”建设", "“跨省通办”扩面", "“双随机、一公开”监管", "12345热线提质增效",
}

var regionTable = []struct {
	name   string
	weight float64
}{
	{"莲都区", 0.26}, {"龙泉市", 0.11}, {"青田县", 0.13}, {"缙云县", 0.13}, {"遂昌县", 0.08},
	{"松阳县", 0.08}, {"云和县", 0.05}, {"庆元县", 0.07}, {"景宁畲族自治县", 0.05},
}

var (
	surnames   = []rune("王李张刘陈杨黄赵吴周徐孙胡朱高林何郭马罗梁宋郑谢叶潘蓝雷钟季应毛吕金施")
	givenNames = strings.Fields("建华 晓明 丽华 志强 海燕 伟 芳 敏 静 磊 军 勇 杰 娟 涛 超 慧 婷 浩 鑫 琳 雅琴 国平 建军 小红 晓燕 文斌 春梅 秀英 俊杰 宇航 子涵 思远 佳琪 梦瑶")
)

// Calibration targets (Lishui platform figures).
const (
	targetInstant = 0.305 // of accepted; completed share ends near 32.6%
	targetShared  = 0.733
	targetMobile  = 0.52
	targetWindow  = 0.15
	targetSelf    = 0.03
)

// instantChance: how likely a matter with this variant is an instant (即办)
// one; cancellations, reissues, filings and certificates usually are.
func instantChance(s string) float64 {
	for _, k := range []string{"注销", "补", "换", "备案", "查询", "证明", "打印", "申领", "配发", "校验", "结清", "开户", "首次", "增量", "迁", "签发", "签注", "采集"} {
		if strings.Contains(s, k) {
			return 0.75
		}
	}
	switch {
	case strings.Contains(s, "变更"):
		return 0.45
	case strings.Contains(s, "延续"), strings.Contains(s, "复审"):
		return 0.4
	}
	return 0.1
}

// needsSteps: approvals and permits for building projects go through other
// departments (并联审批).
func needsSteps(s string) bool {
	for _, k := range []string{"审批", "核准", "核发", "验收", "施工", "规划", "环境", "许可", "预审", "认定"} {
		if strings.Contains(s, k) {
			return true
		}
	}
	return false
}

// NewCity builds the city for seed; the same seed gives the same city.
func NewCity(seed int64) City {
	r := rand.New(rand.NewPCG(uint64(seed), 0x63697479)) // "city"
	var c City
	byName := map[string]int{}
	for i, d := range deptTable {
		c.Departments = append(c.Departments, Department{Code: fmt.Sprintf("D%02d", i+1), Name: d.name})
		byName[d.name] = i
	}
	dept := func(name string) int {
		i, ok := byName[name]
		if !ok {
			panic("simulate: unknown department " + name)
		}
		return i
	}
	for i, rt := range regionTable {
		c.Regions = append(c.Regions, Region{Code: fmt.Sprintf("R%02d", i+1), Name: rt.name})
		c.regWeight = append(c.regWeight, rt.weight)
	}
	var approvers []int
	for _, n := range approverNames {
		approvers = append(approvers, dept(n))
	}

	// Service matters.
	var svcIdx []int
	var svcW []float64
	for di, d := range deptTable {
		for _, subj := range strings.Split(d.matters, ";") {
			name, variants, _ := strings.Cut(subj, ":")
			names := []string{name}
			if variants != "" {
				names = names[:0]
				for _, v := range strings.Split(variants, ",") {
					names = append(names, name+"（"+v+"）")
				}
			}
			for vi, n := range names {
				m := Matter{Code: fmt.Sprintf("M%03d", len(svcIdx)+1), Name: n, Department: c.Departments[di].Code}
				// The first variant (new applications, the commonest
				// certificates) carries more volume than the rest.
				w := d.vol * math.Exp(r.NormFloat64()*0.6)
				if vi == 0 {
					w *= 1.8
				}
				instant := r.Float64() < instantChance(n)
				var steps []stepModel
				if !instant {
					k := 0
					switch {
					case needsSteps(n) && r.Float64() < 0.45:
						k = 2 + r.IntN(3)
					case r.Float64() < 0.06:
						k = 1
					}
					steps = pickSteps(r, k, di, approvers)
				}
				setLimits(r, &m, instant, steps)
				if instant {
					m.Materials = 1 + r.IntN(4)
				} else {
					m.Materials = 3 + r.IntN(10)
				}
				m.SharedBase = clamp(targetShared+r.NormFloat64()*0.08, 0.3, 0.97)
				c.addMatter(m, di, steps)
				svcIdx = append(svcIdx, len(c.Matters)-1)
				svcW = append(svcW, w)
			}
		}
	}
	// Scale instant matters so their share of the volume hits the target
	// whatever the seed drew.
	var wi, wn float64
	for k, mi := range svcIdx {
		if c.Matters[mi].PromisedDays == 0 {
			wi += svcW[k]
		} else {
			wn += svcW[k]
		}
	}
	f := targetInstant / (1 - targetInstant) * wn / wi
	for k, mi := range svcIdx {
		if c.Matters[mi].PromisedDays == 0 {
			svcW[k] *= f
		}
	}
	normalize(svcW)
	// Centre the shared-material bases on the target, weighted by how many
	// materials each matter brings into the city-wide ratio.
	var sw, sm float64
	for k, mi := range svcIdx {
		m := &c.Matters[mi]
		sw += svcW[k] * float64(m.Materials)
		sm += svcW[k] * float64(m.Materials) * m.SharedBase
	}
	for k, mi := range svcIdx {
		c.Matters[mi].SharedBase = clamp(c.Matters[mi].SharedBase+targetShared-sm/sw, 0.05, 0.99)
		c.Matters[mi].Weight = svcW[k]
	}
	c.service = newSampler(svcIdx, svcW)

	// Internal matters.
	var inIdx []int
	var inW []float64
	for _, it := range internalTable {
		di := dept(it.dept)
		m := Matter{Code: fmt.Sprintf("N%03d", len(inIdx)+1), Name: it.name, Department: c.Departments[di].Code, Internal: true}
		instant := strings.Contains(it.name, "协查") && r.Float64() < 0.5
		var steps []stepModel
		if !instant && (strings.Contains(it.name, "审") || strings.Contains(it.name, "协调")) && r.Float64() < 0.5 {
			steps = pickSteps(r, 1+r.IntN(2), di, approvers)
		}
		setLimits(r, &m, instant, steps)
		if m.PromisedDays > 5 && len(steps) == 0 {
			m.PromisedDays = 1 + r.IntN(5)
		}
		if r.Float64() < 0.6 {
			m.LegalDays = event.Absent // internal matters rarely have a statutory limit
		} else if m.LegalDays < m.PromisedDays {
			m.LegalDays = m.PromisedDays
		}
		m.Materials = 1 + r.IntN(3)
		m.SharedBase = clamp(0.6+r.NormFloat64()*0.1, 0.2, 0.95)
		c.addMatter(m, di, steps)
		inIdx = append(inIdx, len(c.Matters)-1)
		inW = append(inW, math.Exp(r.NormFloat64()*0.5))
	}
	normalize(inW)
	for k, mi := range inIdx {
		c.Matters[mi].Weight = inW[k]
	}
	c.internal = newSampler(inIdx, inW)

	// Qualities, centred on the service volume so city-wide figures stay on
	// target whichever departments drew well.
	vol := make([]float64, len(c.Departments))
	for k, mi := range svcIdx {
		vol[c.deptOf[mi]] += svcW[k]
	}
	q := make([]float64, len(c.Departments))
	for i := range q {
		q[i] = 2*r.Float64() - 1
	}
	centre(q, vol)
	c.deptLate = make([]float64, len(q))
	for i := range q {
		c.Departments[i].Quality = q[i]
		c.deptLate[i] = math.Exp(-1.4 * q[i])
	}
	scaleMean(c.deptLate, vol)
	rq := make([]float64, len(c.Regions))
	for i := range rq {
		rq[i] = 2*r.Float64() - 1
	}
	centre(rq, c.regWeight)
	c.regLate = make([]float64, len(rq))
	for i := range rq {
		c.Regions[i].Quality = rq[i]
		c.regLate[i] = math.Exp(-0.5 * rq[i])
	}
	scaleMean(c.regLate, c.regWeight)
	ri := make([]int, len(c.Regions))
	for i := range ri {
		ri[i] = i
	}
	c.regions = newSampler(ri, c.regWeight)

	var tw []float64
	var tidx []int
	for i, d := range deptTable {
		tidx = append(tidx, i)
		tw = append(tw, d.tickets)
	}
	c.tickets = newSampler(tidx, tw)

	// Staff: the responsible persons shown in lights and alerts.
	c.staff = make([][]string, len(c.Departments))
	for i := range c.staff {
		for range 6 + r.IntN(5) {
			c.staff[i] = append(c.staff[i], string(surnames[r.IntN(len(surnames))])+givenNames[r.IntN(len(givenNames))])
		}
	}

	var sidx []int
	var sw2 []float64
	for i, s := range scenarioTable {
		st := scenarioType{code: fmt.Sprintf("SC%02d", i+1), name: s.name, dept: dept(s.dept)}
		for _, n := range s.collab {
			st.collab = append(st.collab, dept(n))
		}
		c.scenarios = append(c.scenarios, st)
		sidx = append(sidx, i)
		sw2 = append(sw2, math.Exp(r.NormFloat64()*0.5))
	}
	c.scenPick = newSampler(sidx, sw2)

	byMatter := map[string]int{}
	for _, mi := range svcIdx {
		byMatter[c.Matters[mi].Name] = mi
	}
	for _, b := range bundleTable {
		bb := bundle{name: b.name}
		for _, n := range b.matters {
			mi, ok := byMatter[n]
			if !ok {
				panic("simulate: unknown matter in bundle: " + n)
			}
			bb.matters = append(bb.matters, mi)
		}
		c.bundles = append(c.bundles, bb)
	}
	c.taskNames = taskNames
	return c
}

func (c *City) addMatter(m Matter, di int, steps []stepModel) {
	for _, s := range steps {
		m.Steps = append(m.Steps, Step{Department: c.Departments[s.dept].Code, Type: s.typ, LimitDays: s.limit})
	}
	c.Matters = append(c.Matters, m)
	c.deptOf = append(c.deptOf, di)
	c.steps = append(c.steps, steps)
}

// pickSteps draws k steps in distinct other departments.
func pickSteps(r *rand.Rand, k, owner int, approvers []int) []stepModel {
	var out []stepModel
	used := map[int]bool{owner: true}
	for len(out) < k {
		d := approvers[r.IntN(len(approvers))]
		if used[d] {
			if len(used) > len(approvers) {
				break
			}
			continue
		}
		used[d] = true
		s := stepModel{dept: d}
		switch u := r.Float64(); {
		case u < 0.4:
			s.typ, s.limit = event.StepConsult, 1
		case u < 0.7:
			s.typ, s.limit = event.StepCountersign, 3
		case u < 0.9:
			s.typ, s.limit = event.StepHandle, 2+r.IntN(4)
		default:
			s.typ, s.limit = event.StepApprove, 1+r.IntN(2)
		}
		out = append(out, s)
	}
	return out
}

var legalChoices = []int{5, 10, 15, 20, 20, 20, 20, 30, 45, 60}

// setLimits draws the statutory and promised limits. Promises compress the
// statutory limit by 55–92% (承诺时限压缩), and leave room for the steps.
func setLimits(r *rand.Rand, m *Matter, instant bool, steps []stepModel) {
	if instant {
		m.PromisedDays = 0
		m.LegalDays = []int{0, 0, 5, 10, 15, 20}[r.IntN(6)]
		return
	}
	if r.Float64() < 0.02 {
		// 无期限 matters exist and must be left out of on-time figures.
		m.LegalDays, m.PromisedDays = event.Absent, event.Absent
		return
	}
	m.LegalDays = legalChoices[r.IntN(len(legalChoices))]
	m.PromisedDays = max(1, int(math.Round(float64(m.LegalDays)*(0.08+0.37*r.Float64()))))
	need := 1
	for _, s := range steps {
		need += s.limit
	}
	if len(steps) > 0 && m.PromisedDays < need {
		m.PromisedDays = need
	}
	if m.LegalDays < m.PromisedDays {
		m.LegalDays = m.PromisedDays * 2
	}
}

func clamp(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }

func normalize(w []float64) {
	t := 0.0
	for _, x := range w {
		t += x
	}
	for i := range w {
		w[i] /= t
	}
}

// centre shifts x so that its w-weighted mean is 0.
func centre(x, w []float64) {
	var s, t float64
	for i := range x {
		s += x[i] * w[i]
		t += w[i]
	}
	for i := range x {
		x[i] -= s / t
	}
}

// scaleMean scales x so that its w-weighted mean is 1.
func scaleMean(x, w []float64) {
	var s, t float64
	for i := range x {
		s += x[i] * w[i]
		t += w[i]
	}
	for i := range x {
		x[i] *= t / s
	}
}

// quality is the combined quality of a department serving a region (region
// −1: none).
func (c *City) quality(dept, region int) float64 {
	q := c.Departments[dept].Quality
	if region >= 0 {
		q += 0.35 * c.Regions[region].Quality
	}
	return q
}

func (c *City) lateMult(dept, region int) float64 {
	m := c.deptLate[dept]
	if region >= 0 {
		m *= c.regLate[region]
	}
	return m
}
